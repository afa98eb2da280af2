/*
 * agent.h: internal interfaces of libdrip-agent.so, shared by its files.
 *   interpose.c  the exported allocator functions, bootstrap, init, fork,
 *                per-thread state and counters
 *   blocks.c     the sharded block table (address -> size, stack id) and
 *                its shard locking (biased to one thread, or a spinlock)
 *   stacks.c     the append-only stack table (frames -> stack id)
 *   unwind.c     the .eh_frame (CFI) unwinder and its PC cache
 *   util.c       mmap wrapper, locks, stderr line, sampling math
 * Nothing here may call the allocator: the agent runs inside malloc.
 */
#ifndef DRIP_AGENT_H
#define DRIP_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include "drip_agent_format.h"

#define AGENT_HIDDEN __attribute__((visibility("hidden")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TLS_IE __attribute__((tls_model("initial-exec")))

/* The exported state (the one data symbol drip looks up). */
extern struct drip_agent_state drip_agent_state;

/* ---- util.c ---- */
void *agent_map(size_t bytes) AGENT_HIDDEN;          /* NULL on failure, counts agent_bytes */
void agent_unmap(void *p, size_t bytes) AGENT_HIDDEN;
void agent_write_stderr(const char *s, size_t n) AGENT_HIDDEN;
size_t agent_fmt_u64(char *out, uint64_t v) AGENT_HIDDEN; /* decimal, returns length */
double agent_neg_log(double u) AGENT_HIDDEN;          /* -ln(u) for u in (0, 1] */

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

/* Spin until the seqlock word is even, then make it odd: the shard is ours. */
void seq_lock_slow(uint64_t *seq) AGENT_HIDDEN;
static inline void seq_lock(uint64_t *seq)
{
    uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
    if (LIKELY(!(s & 1)) &&
        __atomic_compare_exchange_n(seq, &s, s + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    seq_lock_slow(seq);
}
static inline void seq_unlock(uint64_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

/* A plain test-and-set lock for rare paths (stack table inserts). */
void spin_lock(uint32_t *l) AGENT_HIDDEN;
static inline void spin_unlock(uint32_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* ---- blocks.c ---- */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    return x;
}
/* The shard comes from the 64 KiB region of the address, not from the
 * address itself: threads that allocate from their own arena (glibc) or
 * tcache-fed slabs (jemalloc) then mostly touch their own shards, so the
 * shard cache lines do not bounce between cores. */
static inline uint32_t block_shard_of(uint64_t addr)
{
    return (uint32_t)(((addr >> 16) * 0x9E3779B97F4A7C15ULL) >> 54); /* top 10 bits: 1024 shards */
}

enum { BLOCK_INSERTED = 0, BLOCK_REPLACED = 1, BLOCK_NO_ROOM = 2 };
/* The thread records (interpose.c); blocks.c keeps each biased owner's
 * in_shard word there. */
extern struct drip_agent_thread_rec *agent_recs AGENT_HIDDEN;
void blocks_init(int sampled) AGENT_HIDDEN;
/* membarrier registration; biasing stays off without it or when not
 * allowed (DRIP_AGENT_BIAS=0). Needs agent_recs. */
void blocks_bias_init(int allowed) AGENT_HIDDEN;
/* `me` below: the caller's thread-record index, its bias id (0 = none). */
/* Insert addr; returns BLOCK_*; *old_size gets the replaced entry's size. */
int blocks_insert(uint32_t me, uint64_t addr, uint64_t size, uint32_t stack_id,
                  uint64_t *old_size) AGENT_HIDDEN;
/* Remove addr; returns 1 and its slot meta (size | stack id) if present. */
int blocks_remove(uint32_t me, uint64_t addr, uint64_t *meta) AGENT_HIDDEN;
/* Thread exit: hand back the shards biased to me. */
void blocks_release(uint32_t me) AGENT_HIDDEN;
/* Forked child without membarrier: put me's shards under the lock. */
void blocks_unbias(uint32_t me) AGENT_HIDDEN;
/* Sampled mode: a 4 KiB bitmap (small enough to stay in L1) saying which
 * address buckets may hold a sampled block. 0 means "certainly not in the
 * table", decided without a lock. Counts behind the bits live in blocks.c. */
#define FILTER_BITS 15
extern uint64_t *agent_filter AGENT_HIDDEN;
static inline uint32_t filter_bucket(uint64_t addr)
{
    return (uint32_t)(((addr >> 4) * 0xD6E8FEB86659FD93ULL) >> (64 - FILTER_BITS));
}
static inline int blocks_maybe_present(uint64_t addr)
{
    if (!agent_filter)
        return 1;
    uint32_t b = filter_bucket(addr);
    return (__atomic_load_n(&agent_filter[b >> 6], __ATOMIC_RELAXED) >> (b & 63)) & 1;
}
/* fork: take every shard but me's own biased ones. */
void blocks_lock_all(uint32_t me) AGENT_HIDDEN;
void blocks_unlock_all(uint32_t me) AGENT_HIDDEN;

/* ---- stacks.c ---- */
void stacks_init(void) AGENT_HIDDEN;
uint32_t stacks_intern(const uint64_t *frames, uint32_t n) AGENT_HIDDEN;
void stacks_lock(void) AGENT_HIDDEN;
void stacks_unlock(void) AGENT_HIDDEN;

/* ---- unwind.c ---- */
struct unwind_start {
    uint64_t pc; /* return address into the allocator's caller */
    uint64_t sp; /* the caller's stack pointer after the return (our CFA) */
    uint64_t bp; /* the caller's rbp */
};
/* Bounds of the current thread's stack: reads are confined to [sp, hi). */
struct stack_bounds {
    uint64_t lo, hi;
};
/* The stack memory one walk read: (offset from the starting sp, value)
 * for every word it dereferenced, in order. The walk is a pure function of
 * the starting registers, the rules of the PCs it met (fixed for one
 * unwind_gen) and these words, which is what the per-thread stack memo in
 * interpose.c relies on. overflow = the walk read more than UNWIND_LOG_MAX
 * words (not memoizable). used_bp = the result depends on the starting
 * rbp (most -O2 code uses rbp as a general register: keying on it when no
 * rule reads it would make the memo miss every time). */
#define UNWIND_LOG_MAX 40
struct unwind_log {
    uint32_t n, overflow;
    uint32_t used_bp; /* the starting rbp fed a CFA or a read */
    uint32_t pad;
    uint32_t off[UNWIND_LOG_MAX];
    uint64_t val[UNWIND_LOG_MAX];
};
/* Bumped whenever cached unwind rules are dropped (dlclose seen). */
extern uint32_t agent_unwind_gen AGENT_HIDDEN;
void unwind_init(void) AGENT_HIDDEN;
/* log may be NULL. */
uint32_t unwind_capture(const struct unwind_start *st, const struct stack_bounds *b,
                        uint64_t *frames, uint32_t max, struct unwind_log *log) AGENT_HIDDEN;

#endif /* DRIP_AGENT_H */
