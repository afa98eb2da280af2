/*
 * blocks.c: the live-block table. DRIP_AGENT_SHARDS shards, each an
 * open-addressed, linearly probed array of 16-byte slots {addr, meta}
 * guarded by the shard's seqlock word (odd = held). Deletion shifts later
 * entries back (no tombstones), so a reader never has to tell a tombstone
 * from a block and the load factor stays honest.
 *
 * Probing is Robin Hood: lookups and the backward-shift deletion stop
 * early, so probe runs stay short at high load (plain linear probing with
 * backward shift had to scan whole clusters: 35% of the time at 0.8).
 *
 * Growth: at load > 0.8 the array is replaced by one 1.5x larger (rounded
 * to whole pages); after a growth the load is ~0.53, so memory per block
 * stays between 20 and 30 bytes. The old array is unmapped at once: a
 * reader still copying it gets EFAULT or a changed seq and retries.
 * If mmap fails the shard keeps filling up to 15/16 and then reports
 * BLOCK_NO_ROOM; the caller counts the block as untracked.
 */
#include <string.h>
#include "agent.h"

#define SLOTS_PER_PAGE (4096u / sizeof(struct drip_agent_slot))
#define INITIAL_SLOTS SLOTS_PER_PAGE

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

/* Slot position: Fibonacci hashing of the 16-byte granule, mapped onto
 * [0, cap) with a multiply (capacities are whole pages, not powers of 2). */
static inline uint64_t home_of(uint64_t addr, uint64_t cap)
{
    return (uint64_t)(((unsigned __int128)((addr >> 4) * 0x9E3779B97F4A7C15ULL) * cap) >> 64);
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

static inline uint64_t dist_of(uint64_t i, uint64_t addr, uint64_t cap)
{
    uint64_t h = home_of(addr, cap);
    return i >= h ? i - h : i + cap - h;
}

/* Robin Hood lookup: stop at an empty slot or at an entry closer to its
 * home than we are to ours (our key would have displaced it). */
static inline int64_t find(const struct drip_agent_slot *s, uint64_t cap, uint64_t addr)
{
    uint64_t i = home_of(addr, cap);
    for (uint64_t d = 0;; d++) {
        uint64_t a = s[i].addr;
        if (a == addr)
            return (int64_t)i;
        if (a == 0 || dist_of(i, a, cap) < d)
            return -1;
        if (++i == cap)
            i = 0;
    }
}

/* Robin Hood insert of a key known to be absent, continuing at slot i
 * with probe distance d; caller holds the lock. */
static void raw_insert_from(struct drip_agent_slot *s, uint64_t cap, uint64_t i, uint64_t d,
                            uint64_t addr, uint64_t meta)
{
    for (;;) {
        uint64_t a = s[i].addr;
        if (a == 0) {
            s[i].meta = meta;
            s[i].addr = addr;
            return;
        }
        uint64_t da = dist_of(i, a, cap);
        if (da < d) {
            uint64_t m = s[i].meta;
            s[i].addr = addr;
            s[i].meta = meta;
            addr = a;
            meta = m;
            d = da;
        }
        if (++i == cap)
            i = 0;
        d++;
    }
}

static inline void raw_insert(struct drip_agent_slot *s, uint64_t cap, uint64_t addr, uint64_t meta)
{
    raw_insert_from(s, cap, home_of(addr, cap), 0, addr, meta);
}

static int grow(struct drip_agent_shard *sh)
{
    uint64_t cap = sh->capacity;
    uint64_t ncap = cap ? cap + cap / 2 : INITIAL_SLOTS;
    ncap = (ncap + SLOTS_PER_PAGE - 1) / SLOTS_PER_PAGE * SLOTS_PER_PAGE;
    size_t bytes = ncap * sizeof(struct drip_agent_slot);
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
    __atomic_fetch_add(&drip_agent_state.block_table_bytes,
                       bytes - cap * sizeof(struct drip_agent_slot), __ATOMIC_RELAXED);
    agent_unmap(os, cap * sizeof(struct drip_agent_slot));
    return 1;
}

int blocks_insert(uint64_t addr, uint64_t size, uint32_t stack_id, uint64_t *old_size)
{
    struct drip_agent_shard *sh = &shards[block_shard_of(addr)];
    if (size > DRIP_AGENT_SIZE_MASK)
        size = DRIP_AGENT_SIZE_MASK;
    uint64_t meta = size | ((uint64_t)stack_id << DRIP_AGENT_SIZE_BITS);
    seq_lock(&sh->seq);
    /* load > 0.8 -> grow; if growing fails, use the slack up to 15/16. */
    if (UNLIKELY((sh->count + 1) * 5 > sh->capacity * 4)) {
        if (!grow(sh) && (sh->capacity == 0 || (sh->count + 1) * 16 > sh->capacity * 15)) {
            seq_unlock(&sh->seq);
            return BLOCK_NO_ROOM;
        }
    }
    struct drip_agent_slot *slots = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    uint64_t cap = sh->capacity;
    /* One pass: walk the probe run until the key shows up (reuse of an
     * address we never saw freed) or until Robin Hood says it is absent,
     * then insert from there. */
    int r = BLOCK_INSERTED;
    uint64_t i = home_of(addr, cap), d = 0;
    for (;;) {
        uint64_t a = slots[i].addr;
        if (a == 0) {
            slots[i].meta = meta;
            slots[i].addr = addr;
            break;
        }
        if (UNLIKELY(a == addr)) {
            r = BLOCK_REPLACED;
            *old_size = DRIP_AGENT_SLOT_SIZE(slots[i].meta);
            slots[i].meta = meta;
            sh->bytes += size - *old_size;
            break;
        }
        uint64_t da = dist_of(i, a, cap);
        if (da < d) {
            /* addr is absent: take this slot, push the rest along. */
            uint64_t m = slots[i].meta;
            slots[i].addr = addr;
            slots[i].meta = meta;
            if (++i == cap)
                i = 0;
            raw_insert_from(slots, cap, i, da + 1, a, m);
            break;
        }
        if (++i == cap)
            i = 0;
        d++;
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
    uint64_t i = (uint64_t)at;
    *meta = s[i].meta;
    sh->count--;
    sh->bytes -= DRIP_AGENT_SLOT_SIZE(*meta);
    if (filter)
        filter_del(addr);
    /* Backward shift: pull the following displaced entries one step back;
     * stop at an empty slot or an entry sitting at its home. */
    for (;;) {
        uint64_t j = i + 1 == cap ? 0 : i + 1;
        uint64_t a = s[j].addr;
        if (a == 0 || dist_of(j, a, cap) == 0)
            break;
        s[i] = s[j];
        i = j;
    }
    s[i].addr = 0;
    s[i].meta = 0;
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
