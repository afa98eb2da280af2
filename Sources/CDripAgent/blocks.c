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
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
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
static inline void raw_insert(struct drip_agent_slot *s, uint64_t cap, uint64_t key,
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
            return;
        }
        if (ov[g] != 255)
            ov[g]++;
        g = next_group(g, ng);
    }
}

/* ------------------------------------------------------ biased shards
 *
 * A shard is mostly used by one thread (its glibc arena or jemalloc slabs
 * live in the shard's 64 KiB regions), so it is biased to that thread: the
 * owner enters with plain stores and no locked instruction. Any other
 * thread that needs the shard first revokes the bias for good, using
 * membarrier() as the owner's half of the fence. docs/AGENT.md ("Locking")
 * has the argument; test_table's threaded part exercises it.
 *
 *   owner word: SHARD_UNOWNED -> me (CAS, first user claims it)
 *               me -> SHARD_BUSY -> SHARD_SHARED (another thread revokes)
 *               me -> SHARD_UNOWNED (the owner's thread exits)
 *               SHARD_UNOWNED -> SHARD_SHARED (a caller without a bias id)
 *   SHARD_SHARED is final: the seq word is then a CAS spinlock, as it is
 *   for every shard when membarrier is unavailable.
 *
 * "me" is the caller's thread-record index (1 .. DRIP_AGENT_THREAD_RECS-1;
 * 0 = no bias id). The owner's "I am inside shard i" word (in_shard) lives
 * in its thread record, in agent memory that is never unmapped, so a
 * revoker can read it even if the owner has exited. */
/* test_table defines this to stall an owner at the racy points and so
 * widen the windows a revoker must handle; it is nothing in the agent. */
#ifndef BLOCKS_TEST_DELAY
#define BLOCKS_TEST_DELAY() ((void)0)
#endif

#define SHARD_UNOWNED 0ULL
#define SHARD_SHARED (~0ULL)
#define SHARD_BUSY (~0ULL - 1)

static int bias_on;

static inline uint64_t *in_shard_of(uint32_t me)
{
    return &agent_recs[me].in_shard;
}

/* Register for private expedited membarrier; without it (or with
 * DRIP_AGENT_BIAS=0: allowed = 0) no shard is ever biased. Called at init
 * and in a forked child. */
void blocks_bias_init(int allowed)
{
    int e = errno;
    long cmds = allowed ? syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) : 0;
    bias_on = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              (cmds & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) && agent_recs &&
              syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    drip_agent_state.biased = (uint32_t)bias_on;
    errno = e;
}

/* The owner's entry: announce the shard, then check the bias still holds.
 * Plain stores; the compiler barriers keep program order, x86 keeps it in
 * hardware except store->load, which the revoker's membarrier covers. */
static inline int owner_enter(struct drip_agent_shard *sh, uint32_t idx, uint32_t me)
{
    BLOCKS_TEST_DELAY();
    __atomic_store_n(in_shard_of(me), (uint64_t)idx + 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (LIKELY(__atomic_load_n(&sh->owner, __ATOMIC_RELAXED) == me)) {
        BLOCKS_TEST_DELAY();
        __atomic_store_n(&sh->seq, sh->seq + 1, __ATOMIC_RELAXED); /* odd: the reader waits */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        return 1;
    }
    __atomic_store_n(in_shard_of(me), 0, __ATOMIC_RELEASE);
    return 0;
}

/* Wait for a preempted holder: pause, then yield. */
static void backoff(unsigned *spins)
{
    if (++*spins < 64)
        cpu_relax();
    else
        sched_yield();
}

/* After this, every thread of the process has passed a full barrier. */
static void fence_all_threads(void)
{
    int e = errno;
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
        /* Registered at init, so this should not happen; a store buffer
         * drains in well under a millisecond. */
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    errno = e;
}

/* The second half of a revocation (owner word already SHARD_BUSY, fence
 * done): wait until the old owner is out of the shard, then share it. */
static void finish_revocation(uint32_t idx, uint64_t owner)
{
    unsigned spins = 0;
    while (__atomic_load_n(in_shard_of((uint32_t)owner), __ATOMIC_ACQUIRE) == (uint64_t)idx + 1)
        backoff(&spins);
    __atomic_fetch_add(&drip_agent_state.shard_revocations, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&shards[idx].owner, SHARD_SHARED, __ATOMIC_RELEASE);
}

/* Take the bias away from thread `owner` (its CAS to SHARD_BUSY is done):
 * after the fence, either the owner's in_shard store is visible here or
 * its re-check of the owner word will see SHARD_BUSY. */
static __attribute__((noinline)) void revoke_bias(uint32_t idx, uint64_t owner)
{
    fence_all_threads();
    finish_revocation(idx, owner);
}

/* 1: the caller owns the shard (leave with owned = 1); 0: it holds the
 * seq word as a spinlock. */
static __attribute__((noinline)) int shard_enter_slow(struct drip_agent_shard *sh, uint32_t idx,
                                                      uint32_t me)
{
    unsigned spins = 0;
    for (;;) {
        uint64_t o = __atomic_load_n(&sh->owner, __ATOMIC_ACQUIRE);
        if (o == SHARD_SHARED) {
            seq_lock(&sh->seq);
            return 0;
        }
        if (o == SHARD_UNOWNED) {
            uint64_t want = me && bias_on ? me : SHARD_SHARED;
            __atomic_compare_exchange_n(&sh->owner, &o, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        } else if (o == me) {
            if (owner_enter(sh, idx, me))
                return 1;
        } else if (o == SHARD_BUSY) {
            backoff(&spins);
        } else if (__atomic_compare_exchange_n(&sh->owner, &o, SHARD_BUSY, 0, __ATOMIC_ACQ_REL,
                                               __ATOMIC_ACQUIRE)) {
            revoke_bias(idx, o);
        }
    }
}

static inline int shard_enter(struct drip_agent_shard *sh, uint32_t idx, uint32_t me)
{
    uint64_t o = __atomic_load_n(&sh->owner, __ATOMIC_ACQUIRE);
    if (LIKELY(o == me) && LIKELY(me != 0) && LIKELY(owner_enter(sh, idx, me)))
        return 1;
    if (o == SHARD_SHARED) { /* final, so no re-check is needed */
        seq_lock(&sh->seq);
        return 0;
    }
    return shard_enter_slow(sh, idx, me);
}

static inline void shard_leave(struct drip_agent_shard *sh, uint32_t me, int owned)
{
    if (LIKELY(owned)) {
        __atomic_store_n(&sh->seq, sh->seq + 1, __ATOMIC_RELEASE); /* even: consistent */
        __atomic_store_n(in_shard_of(me), 0, __ATOMIC_RELEASE);
    } else {
        seq_unlock(&sh->seq);
    }
}

/* The owner's thread is exiting: its shards become claimable again. */
void blocks_release(uint32_t me)
{
    if (!me)
        return;
    for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++) {
        uint64_t o = me;
        if (__atomic_load_n(&shards[i].owner, __ATOMIC_RELAXED) == me)
            __atomic_compare_exchange_n(&shards[i].owner, &o, SHARD_UNOWNED, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED);
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

int blocks_insert(uint32_t me, uint64_t addr, uint64_t size, uint32_t stack_id, uint64_t *old_size)
{
    uint32_t idx = block_shard_of(addr);
    struct drip_agent_shard *sh = &shards[idx];
    if (size > DRIP_AGENT_SIZE_MASK)
        size = DRIP_AGENT_SIZE_MASK;
    uint64_t meta = size | ((uint64_t)stack_id << DRIP_AGENT_SIZE_BITS);
    int owned = shard_enter(sh, idx, me);
    /* load > 0.8 -> grow; if growing fails, use the slack up to 15/16. */
    if (UNLIKELY((sh->count + 1) * 5 > sh->capacity * 4)) {
        if (!grow(sh, idx) && (sh->capacity == 0 || (sh->count + 1) * 16 > sh->capacity * 15)) {
            shard_leave(sh, me, owned);
            return BLOCK_NO_ROOM;
        }
    }
    struct drip_agent_slot *s = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    uint64_t cap = sh->capacity, h = hash_of(addr);
    /* Is the key already here (an address reused without us seeing its
     * free)? Almost always one tag compare of the home group, which the
     * empty-slot search in raw_insert reads again from L1. */
    int64_t at = find(s, cap, addr, h);
    int r = BLOCK_INSERTED;
    if (UNLIKELY(at >= 0)) {
        r = BLOCK_REPLACED;
        *old_size = DRIP_AGENT_SLOT_SIZE(s[at].meta);
        s[at].meta = meta;
        sh->bytes += size - *old_size;
    } else {
        raw_insert(s, cap, addr, meta, h);
    }
    if (r == BLOCK_INSERTED) {
        sh->count++;
        sh->bytes += size;
        if (filter)
            filter_add(addr);
    }
    shard_leave(sh, me, owned);
    return r;
}

int blocks_remove(uint32_t me, uint64_t addr, uint64_t *meta)
{
    uint32_t idx = block_shard_of(addr);
    struct drip_agent_shard *sh = &shards[idx];
    int owned = shard_enter(sh, idx, me);
    uint64_t cap = sh->capacity;
    struct drip_agent_slot *s = (struct drip_agent_slot *)(uintptr_t)sh->slots_addr;
    uint64_t h = hash_of(addr);
    int64_t at = cap ? find(s, cap, addr, h) : -1;
    if (at < 0) {
        shard_leave(sh, me, owned);
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
    shard_leave(sh, me, owned);
    return 1;
}

/* Only in a forked child, before any other thread exists there. */
void blocks_unbias(uint32_t me)
{
    for (uint32_t i = 0; me && i < DRIP_AGENT_SHARDS; i++)
        if (shards[i].owner == me)
            shards[i].owner = SHARD_SHARED;
}

/* fork: hold every shard so the child never inherits a half-done update.
 * The forking thread (me) keeps its own biased shards: nobody else is
 * inside them, and it is itself in fork(). Every other shard is put under
 * the lock for good first (the child has no other threads to hand them
 * back to, and the parent's owners may be inside them right now): one
 * membarrier for all of them, then wait each owner out. */
void blocks_lock_all(uint32_t me)
{
    static uint64_t taken[DRIP_AGENT_SHARDS]; /* fork is serialised by the stacks lock */
    int any = 0;
    for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++) {
        struct drip_agent_shard *sh = &shards[i];
        taken[i] = 0;
        for (unsigned spins = 0;;) {
            uint64_t o = __atomic_load_n(&sh->owner, __ATOMIC_ACQUIRE);
            if (o == SHARD_SHARED || (me && o == me))
                break;
            if (o == SHARD_BUSY) {
                backoff(&spins);
                continue;
            }
            uint64_t want = o == SHARD_UNOWNED ? SHARD_SHARED : SHARD_BUSY;
            if (__atomic_compare_exchange_n(&sh->owner, &o, want, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                if (want == SHARD_BUSY) {
                    taken[i] = o;
                    any = 1;
                }
                break;
            }
        }
    }
    if (any) {
        fence_all_threads();
        for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++)
            if (taken[i])
                finish_revocation(i, taken[i]);
    }
    for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++)
        if (!(me && shards[i].owner == me))
            seq_lock(&shards[i].seq);
}

void blocks_unlock_all(uint32_t me)
{
    for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++)
        if (!(me && shards[i].owner == me))
            seq_unlock(&shards[i].seq);
}
