/*
 * blocks.c: the live-block table. DRIP_AGENT_SHARDS shards, each an array
 * of 16-byte slots {addr, meta} guarded by the shard's seqlock word (odd =
 * held). The reader only needs "addr == 0 is empty"; where a block sits is
 * the agent's business.
 *
 * Placement: buckets of 8 slots (128 bytes, two adjacent cache lines).
 * A block lives in its home bucket or, when that is full, in one of the
 * buckets after it. Each bucket has an overflow byte (F14-style): how many
 * blocks whose home is at or before this bucket are stored after it. A
 * lookup scans one bucket without branches (8 compares into a bit mask)
 * and moves on only while the overflow byte is non-zero, so almost every
 * operation touches one bucket and takes one predictable branch. The old
 * Robin Hood scheme spent most of its time in mispredicted variable-length
 * probe and shift loops. Deletion just clears the slot and decrements the
 * overflow bytes on the way from home: no tombstones, no shifting. An
 * overflow byte that reaches 255 sticks there (lookups then scan on; the
 * next resize recounts).
 *
 * The overflow bytes sit in the same mapping, after capacity * 16 bytes:
 * the reader copies capacity * 16 bytes and never sees them. A mapping of
 * P pages holds floor(P * 4096 / 16.125) slots rounded down to 8 (about
 * 254 per page instead of 256: 0.8% more memory per block).
 *
 * Growth: at load > 0.8 the array is replaced by one ~1.5x larger (whole
 * pages); after a growth the load is ~0.53, so memory per block stays
 * between 20 and 30 bytes. The old array is unmapped at once: a reader
 * still copying it gets EFAULT or a changed seq and retries. If mmap fails
 * the shard keeps filling up to 15/16 and then reports BLOCK_NO_ROOM; the
 * caller counts the block as untracked.
 */
#include <string.h>
#include "agent.h"


static struct drip_agent_shard shards[DRIP_AGENT_SHARDS] __attribute__((aligned(64)));

/* Sampled mode: a counting filter, 64 buckets per shard. A bucket is only
 * written under its shard's lock; free() reads it without a lock, which is
 * safe because a block's insert happened before the malloc that returned it,
 * hence before any free of it. */
uint64_t *agent_filter;
static uint16_t *filter_counts; /* sampled blocks per bucket */
static uint32_t filter_lock;
#define filter agent_filter

/* Sampled inserts/removals are rare (one per sample period of bytes), so
 * one lock keeps each bit equal to "its count is non-zero". */
static void filter_add(uint64_t addr)
{
    uint32_t b = filter_bucket(addr);
    spin_lock(&filter_lock);
    if (filter_counts[b]++ == 0)
        __atomic_fetch_or(&agent_filter[b >> 6], 1ULL << (b & 63), __ATOMIC_RELEASE);
    spin_unlock(&filter_lock);
}

static void filter_del(uint64_t addr)
{
    uint32_t b = filter_bucket(addr);
    spin_lock(&filter_lock);
    if (--filter_counts[b] == 0)
        __atomic_fetch_and(&agent_filter[b >> 6], ~(1ULL << (b & 63)), __ATOMIC_RELEASE);
    spin_unlock(&filter_lock);
}

/* Home bucket: Fibonacci hashing of the 16-byte granule, mapped onto
 * [0, n) with a multiply (bucket counts are not powers of 2). */
static inline uint64_t home_of(uint64_t addr, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)((addr >> 4) * 0x9E3779B97F4A7C15ULL) * n) >> 64);
}

void blocks_init(int sampled)
{
    drip_agent_state.shards_addr = (uint64_t)(uintptr_t)shards;
    drip_agent_state.shard_count = DRIP_AGENT_SHARDS;
    drip_agent_state.shard_size = sizeof(struct drip_agent_shard);
    drip_agent_state.slot_size = sizeof(struct drip_agent_slot);
    if (sampled) {
        uint64_t *bits = agent_map((1u << FILTER_BITS) / 8);
        filter_counts = agent_map(sizeof(uint16_t) << FILTER_BITS);
        /* No filter (mmap failed): every free takes the shard lock. */
        if (bits && filter_counts)
            filter = bits;
    }
}

#define BUCKET 8u

static uint32_t shard_pages[DRIP_AGENT_SHARDS]; /* pages of each slot mapping */

static inline uint64_t slots_for_pages(uint64_t pages)
{
    return (pages * 4096u * 8u / 129u) & ~(uint64_t)(BUCKET - 1); /* 16.125 bytes per slot */
}

static inline uint8_t *overflow_of(struct drip_agent_slot *s, uint64_t cap)
{
    return (uint8_t *)(s + cap);
}

static inline uint64_t next_bucket(uint64_t b, uint64_t nb)
{
    return b + 1 == nb ? 0 : b + 1;
}

/* Bit j set: slot j of the bucket holds key (match) / is empty. Written
 * without branches so the compiler emits compare+setcc, not 16 jumps. */
static inline void scan(const struct drip_agent_slot *bk, uint64_t key, uint32_t *match,
                        uint32_t *empty)
{
    uint32_t m = 0, e = 0;
#pragma GCC unroll 8
    for (uint32_t j = 0; j < BUCKET; j++) {
        uint64_t a = bk[j].addr;
        m |= (uint32_t)(a == key) << j;
        e |= (uint32_t)(a == 0) << j;
    }
    *match = m;
    *empty = e;
}

/* Slot index of key, or -1. */
static inline int64_t find(struct drip_agent_slot *s, uint64_t cap, uint64_t key)
{
    uint64_t nb = cap / BUCKET, b = home_of(key, nb);
    const uint8_t *ov = overflow_of(s, cap);
    for (uint64_t k = 0; k < nb; k++) {
        uint32_t m, e;
        scan(s + b * BUCKET, key, &m, &e);
        if (LIKELY(m))
            return (int64_t)(b * BUCKET + (uint64_t)__builtin_ctz(m));
        if (LIKELY(ov[b] == 0))
            return -1;
        b = next_bucket(b, nb);
    }
    return -1;
}

/* Insert a key known to be absent; there is room (load < 1). */
static inline void raw_insert(struct drip_agent_slot *s, uint64_t cap, uint64_t key, uint64_t meta)
{
    uint64_t nb = cap / BUCKET, b = home_of(key, nb);
    uint8_t *ov = overflow_of(s, cap);
    for (;;) {
        uint32_t m, e;
        scan(s + b * BUCKET, key, &m, &e);
        if (LIKELY(e)) {
            struct drip_agent_slot *sl = &s[b * BUCKET + (uint64_t)__builtin_ctz(e)];
            sl->meta = meta;
            sl->addr = key;
            return;
        }
        if (ov[b] != 255)
            ov[b]++;
        b = next_bucket(b, nb);
    }
}

static int grow(struct drip_agent_shard *sh, uint32_t idx)
{
    uint64_t cap = sh->capacity;
    uint64_t opages = shard_pages[idx];
    uint64_t npages = opages ? opages + (opages + 1) / 2 : 1;
    uint64_t ncap = slots_for_pages(npages);
    size_t bytes = npages * 4096u;
    struct drip_agent_slot *ns = agent_map(bytes);
    if (!ns) {
        __atomic_fetch_add(&drip_agent_state.failed_growths, 1, __ATOMIC_RELAXED);
        return 0;
    }
    struct drip_agent_slot *os = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    for (uint64_t i = 0; i < cap; i++)
        if (os[i].addr)
            raw_insert(ns, ncap, os[i].addr, os[i].meta);
    sh->slots_addr = (uint64_t)(uintptr_t)ns;
    sh->capacity = ncap;
    sh->resizes++;
    shard_pages[idx] = (uint32_t)npages;
    __atomic_fetch_add(&drip_agent_state.block_table_bytes, bytes - opages * 4096u,
                       __ATOMIC_RELAXED);
    agent_unmap(os, opages * 4096u);
    return 1;
}

int blocks_insert(uint64_t addr, uint64_t size, uint32_t stack_id, uint64_t *old_size)
{
    uint32_t idx = block_shard_of(addr);
    struct drip_agent_shard *sh = &shards[idx];
    if (size > DRIP_AGENT_SIZE_MASK)
        size = DRIP_AGENT_SIZE_MASK;
    uint64_t meta = size | ((uint64_t)stack_id << DRIP_AGENT_SIZE_BITS);
    seq_lock(&sh->seq);
    /* load > 0.8 -> grow; if growing fails, use the slack up to 15/16. */
    if (UNLIKELY((sh->count + 1) * 5 > sh->capacity * 4)) {
        if (!grow(sh, idx) && (sh->capacity == 0 || (sh->count + 1) * 16 > sh->capacity * 15)) {
            seq_unlock(&sh->seq);
            return BLOCK_NO_ROOM;
        }
    }
    struct drip_agent_slot *s = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    uint64_t cap = sh->capacity;
    /* One scan of the home bucket answers both questions in the common
     * case: is the key already here (an address reused without us seeing
     * its free), and where is a free slot. */
    uint64_t nb = cap / BUCKET, b = home_of(addr, nb);
    uint8_t *ov = overflow_of(s, cap);
    uint32_t m, e;
    scan(s + b * BUCKET, addr, &m, &e);
    int64_t at = m ? (int64_t)(b * BUCKET + (uint64_t)__builtin_ctz(m))
                   : (ov[b] ? find(s, cap, addr) : -1);
    int r = BLOCK_INSERTED;
    if (UNLIKELY(at >= 0)) {
        r = BLOCK_REPLACED;
        *old_size = DRIP_AGENT_SLOT_SIZE(s[at].meta);
        s[at].meta = meta;
        sh->bytes += size - *old_size;
    } else if (LIKELY(e)) {
        struct drip_agent_slot *sl = &s[b * BUCKET + (uint64_t)__builtin_ctz(e)];
        sl->meta = meta;
        sl->addr = addr;
    } else {
        raw_insert(s, cap, addr, meta);
    }
    if (r == BLOCK_INSERTED) {
        sh->count++;
        sh->bytes += size;
        if (filter)
            filter_add(addr);
    }
    seq_unlock(&sh->seq);
    return r;
}

int blocks_remove(uint64_t addr, uint64_t *meta)
{
    struct drip_agent_shard *sh = &shards[block_shard_of(addr)];
    seq_lock(&sh->seq);
    uint64_t cap = sh->capacity;
    struct drip_agent_slot *s = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    int64_t at = cap ? find(s, cap, addr) : -1;
    if (at < 0) {
        seq_unlock(&sh->seq);
        return 0;
    }
    *meta = s[at].meta;
    s[at].addr = 0;
    s[at].meta = 0;
    sh->count--;
    sh->bytes -= DRIP_AGENT_SLOT_SIZE(*meta);
    /* Undo the overflow counts of the buckets the insert passed. */
    uint64_t nb = cap / BUCKET, b = home_of(addr, nb), last = (uint64_t)at / BUCKET;
    if (UNLIKELY(b != last)) {
        uint8_t *ov = overflow_of(s, cap);
        for (; b != last; b = next_bucket(b, nb))
            if (ov[b] != 255)
                ov[b]--;
    }
    if (filter)
        filter_del(addr);
    seq_unlock(&sh->seq);
    return 1;
}

/* fork: hold every shard so the child never inherits a half-done update. */
void blocks_lock_all(void)
{
    for (unsigned i = 0; i < DRIP_AGENT_SHARDS; i++)
        seq_lock(&shards[i].seq);
}

void blocks_unlock_all(void)
{
    for (unsigned i = 0; i < DRIP_AGENT_SHARDS; i++)
        seq_unlock(&shards[i].seq);
}
