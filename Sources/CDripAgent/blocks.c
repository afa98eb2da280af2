/*
 * blocks.c: the live-block table. DRIP_AGENT_SHARDS shards, each an array
 * of 16-byte slots {addr, meta} guarded by the shard's seqlock word (odd =
 * held). The reader only needs "addr == 0 is empty"; where a block sits is
 * the agent's business.
 *
 * Placement: groups of 16 slots. Each slot has a private tag byte (0 =
 * empty, 0x80 | 7 hash bits = occupied), so one SSE2 compare of a group's
 * 16 tags finds the candidate slots and the empty ones; the slot array is
 * read only at candidates. A block lives in its home group or, when that
 * is full, in one of the groups after it. Each group has an overflow byte
 * (F14-style): how many blocks whose home is at or before this group are
 * stored after it; a lookup moves on only while it is non-zero. Deletion
 * clears the slot and its tag and decrements the overflow bytes on the way
 * from home: no tombstones, no shifting. An overflow byte that reaches 255
 * sticks there (lookups then scan on; the next resize recounts).
 *
 * The tags and overflow bytes sit in the same mapping, after capacity * 16
 * bytes: the reader copies capacity * 16 bytes and never sees them. A
 * mapping of P pages holds floor(P * 4096 / 17.0625) slots rounded down
 * to 16. docs/AGENT.md has the measurements behind this layout.
 *
 * Growth: at load > 0.8 the array is replaced by one ~1.5x larger (whole
 * pages); after a growth the load is ~0.53, so memory per block stays
 * between 21 and 32 bytes. The old array is unmapped at once: a reader
 * still copying it gets EFAULT or a changed seq and retries. If mmap fails
 * the shard keeps filling up to 15/16 and then reports BLOCK_NO_ROOM; the
 * caller counts the block as untracked.
 */
#include <emmintrin.h>
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

/* Groups of 16 slots, each slot with a one-byte tag (SwissTable style):
 * 0 = empty, 0x80 | 7 hash bits = occupied. One 16-byte SSE2 compare
 * answers "which slots of this group may hold key" and "which are empty"
 * for the whole group; the slot array itself is read only at the (almost
 * always single) candidate. */
#define GROUP 16u

static inline uint64_t hash_of(uint64_t addr)
{
    return (addr >> 4) * 0x9E3779B97F4A7C15ULL;
}

/* Home group: the hash mapped onto [0, ng) with a multiply (fastrange;
 * group counts are not powers of 2). It takes the top bits of the hash. */
static inline uint64_t home_of(uint64_t h, uint64_t ng)
{
    return (uint64_t)(((unsigned __int128)h * ng) >> 64);
}

/* The tag takes bits 40..46, independent of the top bits home_of uses. */
static inline uint8_t tag_of(uint64_t h)
{
    return (uint8_t)(0x80u | ((h >> 40) & 0x7Fu));
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

static uint32_t shard_pages[DRIP_AGENT_SHARDS]; /* pages of each slot mapping */

/* A mapping of P pages: capacity slots (16 B), then capacity tags (1 B),
 * then capacity / 16 overflow bytes: 16 + 1 + 1/16 = 273/16 bytes a slot. */
static inline uint64_t slots_for_pages(uint64_t pages)
{
    return (pages * 4096u * 16u / 273u) & ~(uint64_t)(GROUP - 1);
}

static inline uint8_t *tags_of(struct drip_agent_slot *s, uint64_t cap)
{
    return (uint8_t *)(s + cap);
}

static inline uint8_t *overflow_of(struct drip_agent_slot *s, uint64_t cap)
{
    return (uint8_t *)(s + cap) + cap;
}

static inline uint64_t next_group(uint64_t g, uint64_t ng)
{
    return g + 1 == ng ? 0 : g + 1;
}

/* Bit j set: tag j of the group equals t. The tag array starts at a
 * multiple of 256 bytes from a page, so every group is 16-byte aligned. */
static inline uint32_t group_match(const uint8_t *tags, uint8_t t)
{
    __m128i g = _mm_load_si128((const __m128i *)(const void *)tags);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_set1_epi8((char)t)));
}

/* Slot index of key, or -1. */
static inline int64_t find(struct drip_agent_slot *s, uint64_t cap, uint64_t key, uint64_t h)
{
    uint64_t ng = cap / GROUP, g = home_of(h, ng);
    const uint8_t *tags = tags_of(s, cap), *ov = overflow_of(s, cap);
    uint8_t t = tag_of(h);
    for (uint64_t k = 0; k < ng; k++) {
        for (uint32_t m = group_match(tags + g * GROUP, t); m; m &= m - 1) {
            uint64_t i = g * GROUP + (uint64_t)__builtin_ctz(m);
            if (LIKELY(s[i].addr == key))
                return (int64_t)i;
        }
        if (LIKELY(ov[g] == 0))
            return -1;
        g = next_group(g, ng);
    }
    return -1;
}

/* Store key in the first empty slot from its home group on; there is room
 * (load < 1). Every full group passed gets its overflow byte raised. */
static inline int64_t raw_insert(struct drip_agent_slot *s, uint64_t cap, uint64_t key,
                                 uint64_t meta, uint64_t h)
{
    uint64_t ng = cap / GROUP, g = home_of(h, ng);
    uint8_t *tags = tags_of(s, cap), *ov = overflow_of(s, cap);
    for (;;) {
        uint32_t e = group_match(tags + g * GROUP, 0);
        if (LIKELY(e)) {
            uint64_t i = g * GROUP + (uint64_t)__builtin_ctz(e);
            s[i].meta = meta;
            s[i].addr = key;
            tags[i] = tag_of(h);
            return (int64_t)i;
        }
        if (ov[g] != 255)
            ov[g]++;
        g = next_group(g, ng);
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
            raw_insert(ns, ncap, os[i].addr, os[i].meta, hash_of(os[i].addr));
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
    uint64_t cap = sh->capacity, h = hash_of(addr), ng = cap / GROUP, g = home_of(h, ng);
    uint8_t *tags = tags_of(s, cap), t = tag_of(h);
    /* One look at the home group's tags answers both questions in the
     * common case: is the key already here (an address reused without us
     * seeing its free), and where is an empty slot. */
    int64_t at = -1;
    for (uint32_t m = group_match(tags + g * GROUP, t); m; m &= m - 1) {
        uint64_t i = g * GROUP + (uint64_t)__builtin_ctz(m);
        if (s[i].addr == addr) {
            at = (int64_t)i;
            break;
        }
    }
    if (at < 0 && UNLIKELY(overflow_of(s, cap)[g] != 0))
        at = find(s, cap, addr, h);
    int r = BLOCK_INSERTED;
    if (UNLIKELY(at >= 0)) {
        r = BLOCK_REPLACED;
        *old_size = DRIP_AGENT_SLOT_SIZE(s[at].meta);
        s[at].meta = meta;
        sh->bytes += size - *old_size;
    } else {
        uint32_t e = group_match(tags + g * GROUP, 0);
        if (LIKELY(e)) {
            uint64_t i = g * GROUP + (uint64_t)__builtin_ctz(e);
            s[i].meta = meta;
            s[i].addr = addr;
            tags[i] = t;
        } else {
            raw_insert(s, cap, addr, meta, h);
        }
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
    uint64_t h = hash_of(addr);
    int64_t at = cap ? find(s, cap, addr, h) : -1;
    if (at < 0) {
        seq_unlock(&sh->seq);
        return 0;
    }
    *meta = s[at].meta;
    s[at].addr = 0;
    s[at].meta = 0;
    tags_of(s, cap)[at] = 0;
    sh->count--;
    sh->bytes -= DRIP_AGENT_SLOT_SIZE(*meta);
    /* Undo the overflow counts of the groups the insert passed. */
    uint64_t ng = cap / GROUP, g = home_of(h, ng), last = (uint64_t)at / GROUP;
    if (UNLIKELY(g != last)) {
        uint8_t *ov = overflow_of(s, cap);
        for (; g != last; g = next_group(g, ng))
            if (ov[g] != 255)
                ov[g]--;
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
