/*
 * interpose.c: the allocator entry points libdrip-agent.so exports, and the
 * per-thread state behind them.
 *
 * Every entry point forwards to the allocator the program really uses,
 * found with dlsym(RTLD_NEXT) (jemalloc stays jemalloc; calling
 * __libc_malloc would silently replace it). Until dlsym has answered,
 * requests are served from a static bootstrap buffer, because dlsym itself
 * may allocate.
 *
 * Hot-path rules (docs/AGENT.md has the reasons):
 *   - the thread-local recursion guard is checked first; a call that finds
 *     it set (the agent's own internals, or a signal handler that
 *     interrupted the agent) is forwarded untracked;
 *   - TLS is initial-exec, so touching it never allocates;
 *   - remove from the table BEFORE forwarding a free, insert AFTER the
 *     allocator returns: the address cannot be handed to another thread
 *     while the table still names the old block;
 *   - never call into the loader or take another agent lock while holding
 *     a shard or stack lock;
 *   - errno is preserved across free and across our bookkeeping.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "agent.h"

#define EXPORT __attribute__((visibility("default")))
#define FLUSH_BATCH (64 * 1024) /* per-thread live-byte batch, see docs */

EXPORT struct drip_agent_state drip_agent_state;

/* ------------------------------------------------------------ real calls */

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*usable)(void *);
} real;

static int g_ready;   /* tracking on: real functions, tables, config ready */
static int g_sampled;
static uint64_t g_sample_bytes;
static uint64_t g_limit;
static int g_limit_fired;
static int g_bias_allowed; /* DRIP_AGENT_BIAS is not "0" */
static uint64_t g_main_stack_max;
static pthread_key_t g_key;
static int g_key_ok;
struct drip_agent_thread_rec *agent_recs;

/* ------------------------------------------------------------- bootstrap */

#define BOOT_BYTES (128 * 1024)
static uint8_t boot_buf[BOOT_BYTES] __attribute__((aligned(4096)));
static size_t boot_off;

static inline int is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_buf < BOOT_BYTES;
}

/* Bump allocation with an 8-byte size header; never freed (the buffer only
 * serves what dlsym needs before the real allocator is known). The buffer
 * is static and never reused, so it is already zeroed for calloc. */
static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    if (align & (align - 1) || n > BOOT_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        size_t off = __atomic_load_n(&boot_off, __ATOMIC_RELAXED);
        size_t start = (off + 8 + align - 1) & ~(align - 1);
        size_t end = start + ((n + 15) & ~(size_t)15);
        if (end > BOOT_BYTES) {
            errno = ENOMEM;
            return NULL;
        }
        if (__atomic_compare_exchange_n(&boot_off, &off, end, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            uint64_t sz = n;
            memcpy(boot_buf + start - 8, &sz, 8);
            __atomic_fetch_add(&drip_agent_state.bootstrap_bytes, n, __ATOMIC_RELAXED);
            return boot_buf + start;
        }
    }
}

static size_t boot_size(const void *p)
{
    uint64_t sz;
    memcpy(&sz, (const uint8_t *)p - 8, 8);
    return (size_t)sz;
}

/* ------------------------------------------------------ per-thread state */

enum { T_NEW = 0, T_REG = 1, T_EXITED = 2 };

/* Per-thread stack memo (docs/AGENT.md, "Stack memo"): the walk from
 * (pc, sp, bp) and the stack words it read, with the id it produced. */
#define MEMO_WAYS 4
struct memo {
    uint64_t pc, sp, bp; /* pc == 0: empty */
    uint32_t id, gen;
    struct unwind_log log;
};

struct tls {
    uint32_t guard;
    uint32_t state;
    uint32_t shared; /* rec is record 0, updated with atomics */
    uint32_t fast;   /* sampled mode, no limit, own record: see malloc() */
    struct drip_agent_thread_rec *rec;
    struct stack_bounds bounds;
    int64_t until_sample;
    uint64_t rng;
    struct memo memo[MEMO_WAYS];
};
static __thread struct tls tls TLS_IE;

#define CNT(t, field, v)                                                       \
    do {                                                                       \
        if (LIKELY(!(t)->shared))                                              \
            (t)->rec->field += (uint64_t)(v);                                  \
        else                                                                   \
            __atomic_fetch_add(&(t)->rec->field, (uint64_t)(v), __ATOMIC_RELAXED); \
    } while (0)

#define GLOBAL_INC(field) __atomic_fetch_add(&drip_agent_state.field, 1, __ATOMIC_RELAXED)

/* The id shards are biased to: the index of the thread's own record; 0 =
 * none (no record yet, or the shared record 0). */
static inline uint32_t bias_of(const struct tls *t)
{
    return t->rec && !t->shared ? (uint32_t)(t->rec - agent_recs) : 0;
}

static void watermark(int64_t live)
{
    if (live <= 0)
        return;
    uint64_t cur = __atomic_load_n(&drip_agent_state.high_watermark_bytes, __ATOMIC_RELAXED);
    while ((uint64_t)live > cur &&
           !__atomic_compare_exchange_n(&drip_agent_state.high_watermark_bytes, &cur, (uint64_t)live,
                                        1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Live bytes: per-thread pending delta, added to the shared total once it
 * passes +-FLUSH_BATCH, so the shared cache line is written at most once
 * per 64 KiB of net change per thread. */
static inline void live_add(struct tls *t, int64_t delta)
{
    if (UNLIKELY(t->shared)) {
        watermark(__atomic_add_fetch((int64_t *)&drip_agent_state.live_bytes_flushed, delta,
                                     __ATOMIC_RELAXED));
        return;
    }
    int64_t p = (int64_t)t->rec->pending + delta;
    if (UNLIKELY(p > FLUSH_BATCH || p < -FLUSH_BATCH)) {
        int64_t g = __atomic_add_fetch((int64_t *)&drip_agent_state.live_bytes_flushed, p,
                                       __ATOMIC_RELAXED);
        p = 0;
        watermark(g);
    }
    t->rec->pending = (uint64_t)p;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Bytes until the next sample: Exp(mean = sample_bytes), rounded up. */
static int64_t draw_interval(struct tls *t)
{
    double u = (double)((rng_next(&t->rng) >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double v = agent_neg_log(u) * (double)g_sample_bytes;
    if (v > 1e15)
        v = 1e15;
    return (int64_t)v + 1;
}

extern void *__libc_stack_end; /* ld.so: top of the main thread's stack */

/* Stack bounds without allocating when we can: the main thread's from
 * __libc_stack_end and RLIMIT_STACK; other threads' from
 * pthread_getattr_np (which may allocate: we hold the guard, so that
 * allocation is forwarded untracked). */
static void thread_bounds(struct stack_bounds *b)
{
    uint64_t sp = (uint64_t)(uintptr_t)__builtin_frame_address(0);
    uint64_t top = (uint64_t)(uintptr_t)__libc_stack_end;
    b->lo = b->hi = 0;
    if (top && sp < top && top - sp < g_main_stack_max) {
        b->hi = (top + 4095) & ~(uint64_t)4095;
        b->lo = b->hi - g_main_stack_max;
        return;
    }
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&a, &addr, &size) == 0 && sp >= (uint64_t)(uintptr_t)addr &&
            sp - (uint64_t)(uintptr_t)addr < size) {
            b->lo = (uint64_t)(uintptr_t)addr;
            b->hi = b->lo + size;
        }
        pthread_attr_destroy(&a);
    }
}

static struct drip_agent_thread_rec *claim_rec(uint64_t tid)
{
    struct drip_agent_state *s = &drip_agent_state;
    uint32_t used = __atomic_load_n(&s->thread_recs_used, __ATOMIC_ACQUIRE);
    for (;;) {
        for (uint32_t i = 1; i < used; i++) {
            uint64_t zero = 0;
            if (__atomic_load_n(&agent_recs[i].owner, __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(&agent_recs[i].owner, &zero, tid, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return &agent_recs[i];
        }
        if (used >= DRIP_AGENT_THREAD_RECS)
            return NULL;
        /* Extend; then claim the new record like any other (another thread
         * may race us for it). */
        __atomic_compare_exchange_n(&s->thread_recs_used, &used, used + 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
        used = __atomic_load_n(&s->thread_recs_used, __ATOMIC_ACQUIRE);
    }
}

/* First tracked call of a thread; the guard is held. */
static __attribute__((noinline)) void thread_register(struct tls *t)
{
    if (t->state == T_EXITED || !agent_recs) {
        t->rec = &agent_recs[0];
        t->shared = 1;
        return;
    }
    int e = errno; /* pthread_getattr_np may allocate or read files */
    uint64_t tid = (uint64_t)gettid();
    struct drip_agent_thread_rec *r = claim_rec(tid);
    if (r) {
        t->rec = r;
        t->shared = 0;
    } else {
        t->rec = &agent_recs[0];
        t->shared = 1;
    }
    thread_bounds(&t->bounds);
    t->rng = mix64((uint64_t)(uintptr_t)t ^ (tid << 32) ^ __builtin_ia32_rdtsc()) | 1;
    if (g_sampled)
        t->until_sample = draw_interval(t);
    t->state = T_REG;
    t->fast = g_sampled && !g_limit && !t->shared;
    if (g_key_ok)
        pthread_setspecific(g_key, (void *)1);
    errno = e;
}

/* pthread key destructor: the thread is exiting. Hand the record back; a
 * later thread reuses it and keeps adding to its totals. Calls this thread
 * still makes (later destructors) go to the shared record. */
static void thread_exit(void *arg)
{
    (void)arg;
    struct tls *t = &tls;
    t->guard++;
    if (t->rec && !t->shared) {
        struct drip_agent_thread_rec *r = t->rec;
        int64_t p = (int64_t)r->pending;
        r->pending = 0;
        watermark(__atomic_add_fetch((int64_t *)&drip_agent_state.live_bytes_flushed, p,
                                     __ATOMIC_RELAXED));
        blocks_release(bias_of(t));
        t->rec = &agent_recs[0];
        t->shared = 1;
        t->fast = 0;
        __atomic_store_n(&r->owner, 0, __ATOMIC_RELEASE);
    }
    t->state = T_EXITED;
    t->guard--;
}

/* ------------------------------------------------------------ the limit */

static __attribute__((noinline, cold)) void limit_hit(int64_t live, uint64_t request)
{
    GLOBAL_INC(limit_hits);
    if (__atomic_exchange_n(&g_limit_fired, 1, __ATOMIC_RELAXED))
        return; /* one line, one signal per process */
    int e = errno;
    char buf[200];
    size_t n = 0;
#define PUT(s) (memcpy(buf + n, s, sizeof(s) - 1), n += sizeof(s) - 1)
    PUT("drip-agent: pid ");
    n += agent_fmt_u64(buf + n, (uint64_t)getpid());
    PUT(" dynamic memory limit ");
    n += agent_fmt_u64(buf + n, g_limit);
    PUT(" bytes exceeded (live ");
    n += agent_fmt_u64(buf + n, live > 0 ? (uint64_t)live : 0);
    PUT(" + request ");
    n += agent_fmt_u64(buf + n, request);
    PUT(")\n");
#undef PUT
    agent_write_stderr(buf, n);
    raise(SIGSYS);
    errno = e;
}

static inline void limit_check(struct tls *t, uint64_t request)
{
    if (LIKELY(g_limit == 0) || request == 0)
        return;
    int64_t live = (int64_t)drip_agent_state.live_bytes_flushed + (int64_t)t->rec->pending;
    if ((uint64_t)(live > 0 ? live : 0) + request > g_limit)
        limit_hit(live, request);
}

/* ------------------------------------------------------- the bookkeeping */

/* The walk is a pure function of its starting registers, the unwind rules
 * of the PCs it meets (fixed while agent_unwind_gen is unchanged) and the
 * stack words it reads. If all of those are what they were when the memo
 * entry was made, the walk would produce the same frames, hence the same
 * stack id: reuse it without walking or hashing. The words lie in
 * [sp, stack top) of this thread, as they did when they were first read,
 * so re-reading them cannot fault. */
static inline int memo_valid(const struct memo *m, uint64_t pc, uint64_t sp, uint64_t bp,
                             uint32_t gen)
{
    const struct unwind_log *l = &m->log;
    if (m->pc != pc || m->sp != sp || m->gen != gen || (l->used_bp && m->bp != bp))
        return 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (*(const volatile uint64_t *)(uintptr_t)(sp + l->off[i]) != l->val[i])
            return 0;
    return 1;
}

static __attribute__((noinline)) uint32_t stack_id_slow(struct tls *t, struct memo *m,
                                                        const struct unwind_start *st, uint32_t gen)
{
    uint64_t frames[DRIP_AGENT_MAX_FRAMES];
    m->pc = 0; /* filled below; empty until complete */
    uint32_t nf = unwind_capture(st, &t->bounds, frames, DRIP_AGENT_MAX_FRAMES, &m->log);
    uint32_t id = stacks_intern(frames, nf);
    /* Id 0 may be a transient failure (stack table could not grow): never
     * memoize it. */
    if (id != DRIP_AGENT_STACK_NONE && !m->log.overflow) {
        m->sp = st->sp;
        m->bp = st->bp;
        m->gen = gen;
        m->id = id;
        m->pc = st->pc;
    }
    return id;
}

static inline uint32_t stack_id(struct tls *t, const struct unwind_start *st)
{
    uint32_t gen = __atomic_load_n(&agent_unwind_gen, __ATOMIC_ACQUIRE);
    struct memo *m = &t->memo[(st->pc ^ (st->pc >> 7) ^ (st->sp >> 4)) & (MEMO_WAYS - 1)];
    if (LIKELY(memo_valid(m, st->pc, st->sp, st->bp, gen)))
        return m->id;
    return stack_id_slow(t, m, st, gen);
}

static __attribute__((noinline)) void record_block(struct tls *t, void *p, size_t n,
                                                   const struct unwind_start *st)
{
    uint32_t id = stack_id(t, st);
    uint64_t old = 0;
    int r = blocks_insert(bias_of(t), (uint64_t)(uintptr_t)p, n, id, &old);
    if (UNLIKELY(r != BLOCK_INSERTED)) {
        if (r == BLOCK_NO_ROOM) {
            CNT(t, untracked_blocks, 1);
            CNT(t, untracked_bytes, n);
            return;
        }
        /* The address came back without us seeing its free (freed by a
         * signal handler that interrupted the agent): drop the stale one. */
        GLOBAL_INC(stale_replaced);
        if (!g_sampled) {
            CNT(t, freed_blocks, 1);
            CNT(t, freed_bytes, old);
            live_add(t, -(int64_t)old);
        }
        if (g_sampled)
            return;
    }
    if (!g_sampled) {
        CNT(t, alloc_blocks, 1);
        CNT(t, alloc_bytes, n);
        live_add(t, (int64_t)n);
    }
}

/* A new block p of n requested bytes. In sampled mode the byte counter
 * has already been charged with n when `charged` is set (malloc's fast
 * path decided to come here because it ran out). */
static inline void on_alloc_charged(struct tls *t, void *p, size_t n, const struct unwind_start *st,
                                    int charged)
{
    if (LIKELY(!g_sampled)) {
        record_block(t, p, n, st);
        return;
    }
    if (g_limit) {
        /* Live bytes are only kept in sampled mode when a limit needs them:
         * malloc_usable_size costs as much as the rest of the fast path. */
        size_t u = real.usable(p);
        CNT(t, alloc_blocks, 1);
        CNT(t, alloc_bytes, u);
        live_add(t, (int64_t)u);
    }
    if (!charged)
        t->until_sample -= (int64_t)n;
    if (LIKELY(t->until_sample > 0))
        return;
    /* Sampled: the Poisson process over allocated bytes put a point in
     * this block. Restart from a fresh exponential (memoryless). */
    t->until_sample = draw_interval(t);
    CNT(t, sampled, 1);
    record_block(t, p, n, st);
}

static inline void on_alloc(struct tls *t, void *p, size_t n, const struct unwind_start *st)
{
    on_alloc_charged(t, p, n, st, 0);
}

/* Block p leaves the live set (before it is handed back). 1 if it was
 * known: exact mode = in the table; sampled mode = always (usable size). */
static inline void on_release(struct tls *t, void *p)
{
    uint64_t meta;
    if (LIKELY(!g_sampled)) {
        if (blocks_remove(bias_of(t), (uint64_t)(uintptr_t)p, &meta)) {
            uint64_t sz = DRIP_AGENT_SLOT_SIZE(meta);
            CNT(t, freed_blocks, 1);
            CNT(t, freed_bytes, sz);
            live_add(t, -(int64_t)sz);
        } else {
            CNT(t, unknown_frees, 1);
        }
        return;
    }
    if (g_limit) {
        size_t u = real.usable(p);
        CNT(t, freed_blocks, 1);
        CNT(t, freed_bytes, u);
        live_add(t, -(int64_t)u);
    }
    if (UNLIKELY(blocks_maybe_present((uint64_t)(uintptr_t)p)))
        blocks_remove(bias_of(t), (uint64_t)(uintptr_t)p, &meta);
}

/* ------------------------------------------------------------------ init */

static void resolve(void)
{
    static int resolving;
    if (__atomic_exchange_n(&resolving, 1, __ATOMIC_ACQUIRE))
        return; /* someone else is at it; callers use the bootstrap buffer */
    tls.guard++;
    /* Every pointer is published only once all are known, malloc last: a
     * non-NULL real.malloc means the whole set is usable. */
    void *f_free = dlsym(RTLD_NEXT, "free");
    void *f_calloc = dlsym(RTLD_NEXT, "calloc");
    void *f_realloc = dlsym(RTLD_NEXT, "realloc");
    void *f_pm = dlsym(RTLD_NEXT, "posix_memalign");
    void *f_aa = dlsym(RTLD_NEXT, "aligned_alloc");
    void *f_ma = dlsym(RTLD_NEXT, "memalign");
    void *f_va = dlsym(RTLD_NEXT, "valloc");
    void *f_pv = dlsym(RTLD_NEXT, "pvalloc");
    void *f_us = dlsym(RTLD_NEXT, "malloc_usable_size");
    void *f_malloc = dlsym(RTLD_NEXT, "malloc");
    if (!f_malloc || !f_free || !f_calloc || !f_realloc) {
        /* Not preloaded the usual way (no next object defines malloc):
         * glibc's own entry points are the only allocator there is. */
        extern void *__libc_malloc(size_t), __libc_free(void *), *__libc_calloc(size_t, size_t),
            *__libc_realloc(void *, size_t), *__libc_memalign(size_t, size_t);
        f_malloc = (void *)__libc_malloc;
        f_free = (void *)__libc_free;
        f_calloc = (void *)__libc_calloc;
        f_realloc = (void *)__libc_realloc;
        if (!f_ma)
            f_ma = (void *)__libc_memalign;
    }
    *(void **)&real.free = f_free;
    *(void **)&real.calloc = f_calloc;
    *(void **)&real.realloc = f_realloc;
    *(void **)&real.posix_memalign = f_pm;
    *(void **)&real.aligned_alloc = f_aa;
    *(void **)&real.memalign = f_ma;
    *(void **)&real.valloc = f_va;
    *(void **)&real.pvalloc = f_pv;
    *(void **)&real.usable = f_us;
    __atomic_store_n((void **)&real.malloc, f_malloc, __ATOMIC_RELEASE);
    tls.guard--;
}

static uint64_t env_u64(const char *name)
{
    const char *s = getenv(name);
    if (!s)
        return 0;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    switch (*s) {
    case 'k': case 'K': v <<= 10; break;
    case 'm': case 'M': v <<= 20; break;
    case 'g': case 'G': v <<= 30; break;
    }
    return v;
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void agent_init(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    tls.guard++;
    if (!real.malloc)
        resolve();
    if (!real.malloc || !real.usable) {
        tls.guard--;
        return; /* cannot forward or measure: stay a pure pass-through */
    }
    struct drip_agent_state *s = &drip_agent_state;
    g_sample_bytes = env_u64("DRIP_SAMPLE_BYTES");
    g_sampled = g_sample_bytes != 0;
    g_limit = env_u64("DRIP_LIMIT_BYTES");
    const char *dbg = getenv("DRIP_AGENT_DEBUG");

    struct rlimit rl;
    g_main_stack_max = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0)
        g_main_stack_max = (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1ull << 30))
                               ? (1ull << 30) : (uint64_t)rl.rlim_cur;

    agent_recs = agent_map((size_t)DRIP_AGENT_THREAD_RECS * sizeof(struct drip_agent_thread_rec));
    if (!agent_recs) {
        tls.guard--;
        return;
    }
    s->thread_recs_addr = (uint64_t)(uintptr_t)agent_recs;
    s->thread_recs_capacity = DRIP_AGENT_THREAD_RECS;
    s->thread_rec_size = sizeof(struct drip_agent_thread_rec);
    s->thread_recs_used = 1; /* record 0: shared */
    agent_recs[0].owner = ~0ull;

    blocks_init(g_sampled);
    const char *bias = getenv("DRIP_AGENT_BIAS");
    g_bias_allowed = !(bias && bias[0] == '0');
    blocks_bias_init(g_bias_allowed);
    stacks_init();
    unwind_init();
    __atomic_fetch_add(&s->agent_bytes, sizeof(struct drip_agent_state) + BOOT_BYTES +
                       DRIP_AGENT_SHARDS * sizeof(struct drip_agent_shard) +
                       DRIP_AGENT_STACK_DIR_CAPACITY * sizeof(struct drip_agent_stack_chunk),
                       __ATOMIC_RELAXED);

    g_key_ok = pthread_key_create(&g_key, thread_exit) == 0;
    pthread_atfork(fork_prepare, fork_parent, fork_child);

    s->version = DRIP_AGENT_FORMAT_VERSION;
    s->state_size = sizeof(struct drip_agent_state);
    s->init_pid = s->pid = (uint64_t)getpid();
    s->mode = g_sampled ? DRIP_AGENT_MODE_SAMPLED : DRIP_AGENT_MODE_EXACT;
    s->sample_bytes = g_sample_bytes;
    s->limit_bytes = g_limit;
    s->flush_batch_bytes = FLUSH_BATCH;
    s->ready = 1;
    __atomic_store_n(&s->magic, DRIP_AGENT_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&g_ready, 1, __ATOMIC_RELEASE);

    if (dbg && dbg[0] == '1') {
        char buf[160];
        size_t n = 0;
#define PUT(str) (memcpy(buf + n, str, sizeof(str) - 1), n += sizeof(str) - 1)
        PUT("drip-agent: pid ");
        n += agent_fmt_u64(buf + n, s->pid);
        if (g_sampled) {
            PUT(" sampled mode, mean ");
            n += agent_fmt_u64(buf + n, g_sample_bytes);
            PUT(" bytes");
        } else {
            PUT(" exact mode");
        }
        if (g_limit) {
            PUT(", limit ");
            n += agent_fmt_u64(buf + n, g_limit);
        }
        PUT("\n");
#undef PUT
        agent_write_stderr(buf, n);
    }
    tls.guard--;
}

__attribute__((constructor)) static void drip_agent_ctor(void)
{
    agent_init();
}

/* ------------------------------------------------------------------ fork */

static int fork_skipped;

/* Take every agent lock so the child inherits tables in a consistent
 * state; the guard keeps any allocation fork makes away from them. */
static void fork_prepare(void)
{
    if (tls.guard) {
        fork_skipped = 1; /* fork from a handler that interrupted the agent */
        return;
    }
    fork_skipped = 0;
    tls.guard = 1;
    stacks_lock();
    blocks_lock_all(bias_of(&tls));
}

static void fork_parent(void)
{
    if (fork_skipped)
        return;
    blocks_unlock_all(bias_of(&tls));
    stacks_unlock();
    tls.guard = 0;
}

/* The child keeps the counts it inherited (they are the parent's at the
 * fork point) and continues from them. Threads other than this one do not
 * exist here: fold their pending bytes in and free their records. */
static void fork_child(void)
{
    struct drip_agent_state *s = &drip_agent_state;
    if (!fork_skipped) {
        blocks_unlock_all(bias_of(&tls));
        stacks_unlock();
    }
    /* membarrier registration belongs to the address space; renew it, and
     * give up this thread's biases if the child cannot have it. */
    blocks_bias_init(g_bias_allowed);
    if (!s->biased)
        blocks_unbias(bias_of(&tls));
    struct drip_agent_thread_rec *mine = tls.shared ? NULL : tls.rec;
    for (uint32_t i = 1; i < s->thread_recs_used; i++) {
        struct drip_agent_thread_rec *r = &agent_recs[i];
        if (r == mine || r->owner == 0)
            continue;
        s->live_bytes_flushed += r->pending;
        r->pending = 0;
        /* A thread that vanished between announcing a shard and its
         * re-check must not leave the word set for the record's next user. */
        r->in_shard = 0;
        r->owner = 0;
    }
    if (mine)
        mine->owner = (uint64_t)gettid();
    s->pid = (uint64_t)getpid();
    s->fork_generation++;
    /* A copied PRNG would make parent and child sample the same blocks. */
    tls.rng = mix64(tls.rng ^ __builtin_ia32_rdtsc() ^ s->pid) | 1;
    if (!fork_skipped)
        tls.guard = 0;
}

/* ------------------------------------------------------ the entry points */

/* The allocator's caller, as the unwinder's starting point. The agent is
 * built with frame pointers, so in an exported function rbp is its frame:
 * [rbp] = caller's rbp, [rbp+8] = return address, rbp+16 = caller's sp. */
#define CALLER(st)                                                             \
    struct unwind_start st;                                                    \
    do {                                                                       \
        const uint64_t *fp_ = (const uint64_t *)__builtin_frame_address(0);    \
        st.pc = (uint64_t)(uintptr_t)__builtin_return_address(0);              \
        st.sp = (uint64_t)(uintptr_t)fp_ + 16;                                 \
        st.bp = fp_[0];                                                        \
    } while (0)

static __attribute__((noinline)) void *untracked_alloc(size_t n, size_t align, int zero)
{
    if (!__atomic_load_n((void **)&real.malloc, __ATOMIC_ACQUIRE)) {
        resolve();
        if (!__atomic_load_n((void **)&real.malloc, __ATOMIC_ACQUIRE))
            return boot_alloc(n, align);
    }
    if (tls.guard) {
        if (g_ready)
            GLOBAL_INC(recursive_allocs);
    } else {
        GLOBAL_INC(early_allocs);
    }
    if (zero)
        return real.calloc(1, n);
    if (align) {
        void *p = NULL;
        if (real.posix_memalign)
            return real.posix_memalign(&p, align, n) == 0 ? p : NULL;
        return real.memalign ? real.memalign(align, n) : NULL;
    }
    return real.malloc(n);
}

static __attribute__((noinline)) void *malloc_full(struct tls *t, size_t n,
                                                  const struct unwind_start *st, int charged)
{
    if (UNLIKELY(t->guard || !g_ready))
        return untracked_alloc(n, 0, 0);
    t->guard = 1;
    if (UNLIKELY(!t->rec))
        thread_register(t);
    limit_check(t, n);
    void *p = real.malloc(n);
    /* errno: the bookkeeping below leaves it alone; the few calls that can
     * change it (mmap, dl_iterate_phdr, ...) save and restore it. */
    if (LIKELY(p)) {
        CNT(t, mallocs, 1);
        on_alloc_charged(t, p, n, st, charged);
    } else if (charged) {
        t->until_sample += (int64_t)n; /* nothing was allocated */
    }
    t->guard = 0;
    return p;
}

EXPORT void *malloc(size_t n)
{
    struct tls *t = &tls;
    /* Sampled mode's common case: a counter decrement and a tail call. No
     * guard is needed: no lock is held and the counters are the thread's
     * own (a signal handler's malloc in between only races its own count). */
    if (LIKELY(t->fast && !t->guard)) {
        t->until_sample -= (int64_t)n;
        if (LIKELY(t->until_sample > 0)) {
            t->rec->mallocs++;
            return real.malloc(n);
        }
        CALLER(st);
        return malloc_full(t, n, &st, 1);
    }
    CALLER(st);
    return malloc_full(t, n, &st, 0);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    struct tls *t = &tls;
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (UNLIKELY(t->guard || !g_ready)) {
        if (!__atomic_load_n((void **)&real.malloc, __ATOMIC_ACQUIRE))
            return untracked_alloc(n, 0, 1); /* bootstrap memory is zeroed */
        if (t->guard && g_ready)
            GLOBAL_INC(recursive_allocs);
        else if (!t->guard)
            GLOBAL_INC(early_allocs);
        return real.calloc(nmemb, size);
    }
    t->guard = 1;
    if (UNLIKELY(!t->rec))
        thread_register(t);
    limit_check(t, n);
    void *p = real.calloc(nmemb, size);
    if (LIKELY(p)) {
        int e = errno;
        CALLER(st);
        CNT(t, mallocs, 1);
        on_alloc(t, p, n, &st);
        errno = e;
    }
    t->guard = 0;
    return p;
}

/* errno: nothing on the tracked path can change it (table removal makes
 * no calls; thread_register keeps it itself), and the real free's own
 * errno behaviour is the program's to see, as without the agent. */
static __attribute__((noinline)) void free_full(struct tls *t, void *p)
{
    if (UNLIKELY(t->guard || !g_ready)) {
        if (t->guard && g_ready)
            GLOBAL_INC(recursive_frees);
        if (real.free)
            real.free(p);
        return;
    }
    t->guard = 1;
    if (UNLIKELY(!t->rec))
        thread_register(t);
    CNT(t, frees, 1);
    on_release(t, p);
    real.free(p);
    t->guard = 0;
}

EXPORT void free(void *p)
{
    if (UNLIKELY(!p || is_boot(p)))
        return; /* bootstrap blocks are never handed to the real free */
    struct tls *t = &tls;
    if (LIKELY(t->fast && !t->guard && !blocks_maybe_present((uint64_t)(uintptr_t)p))) {
        t->rec->frees++;
        real.free(p); /* errno: glibc's free preserves it, and we touched nothing */
        return;
    }
    free_full(t, p);
}

static __attribute__((noinline)) void *boot_realloc(void *p, size_t n)
{
    size_t old = boot_size(p);
    void *q = malloc(n);
    if (q)
        memcpy(q, p, old < n ? old : n);
    return q;
}

/* realloc with the guard held and the thread registered. */
static void *tracked_realloc(struct tls *t, void *p, size_t n, const struct unwind_start *st)
{
    if (!p) {
        limit_check(t, n);
        void *q = real.realloc(NULL, n);
        if (q) {
            CNT(t, mallocs, 1);
            on_alloc(t, q, n, st);
        }
        return q;
    }
    uint64_t meta = 0, old = 0;
    int had;
    if (!g_sampled) {
        had = blocks_remove(bias_of(t), (uint64_t)(uintptr_t)p, &meta);
        old = had ? DRIP_AGENT_SLOT_SIZE(meta) : 0;
        if (n > old)
            limit_check(t, n - old);
    } else {
        old = g_limit ? real.usable(p) : 0;
        had = blocks_maybe_present((uint64_t)(uintptr_t)p) &&
              blocks_remove(bias_of(t), (uint64_t)(uintptr_t)p, &meta);
        if (n > old)
            limit_check(t, n - old);
    }
    int e = errno;
    void *q = real.realloc(p, n);
    int e2 = errno;
    if (!q && n != 0) {
        /* Failed: p is still the caller's block, put it back. */
        if (had) {
            uint64_t dummy;
            blocks_insert(bias_of(t), (uint64_t)(uintptr_t)p, DRIP_AGENT_SLOT_SIZE(meta),
                          DRIP_AGENT_SLOT_STACK(meta), &dummy);
        }
        errno = e2;
        return NULL;
    }
    /* The old block is gone (moved, resized, or freed by realloc(p, 0)). */
    if ((g_sampled && g_limit) || (!g_sampled && had)) {
        CNT(t, freed_blocks, 1);
        CNT(t, freed_bytes, old);
        live_add(t, -(int64_t)old);
    } else if (!g_sampled) {
        CNT(t, unknown_frees, 1);
    }
    if (!q) {
        CNT(t, frees, 1); /* realloc(p, 0) freed p */
        errno = e;
        return NULL;
    }
    CNT(t, reallocs, 1);
    on_alloc(t, q, n, st);
    errno = e;
    return q;
}

/* realloc and reallocarray share one body. Always inlined: CALLER reads the
 * frame of the exported function it is expanded in. */
static inline __attribute__((always_inline)) void *realloc_entry(void *p, size_t n)
{
    if (UNLIKELY(is_boot(p)))
        return boot_realloc(p, n);
    struct tls *t = &tls;
    if (UNLIKELY(t->guard || !g_ready)) {
        if (!p)
            return untracked_alloc(n, 0, 0);
        if (t->guard && g_ready)
            GLOBAL_INC(recursive_allocs);
        return real.realloc(p, n);
    }
    t->guard = 1;
    if (UNLIKELY(!t->rec))
        thread_register(t);
    CALLER(st);
    void *q = tracked_realloc(t, p, n, &st);
    t->guard = 0;
    return q;
}

EXPORT void *realloc(void *p, size_t n)
{
    return realloc_entry(p, n);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_entry(p, n);
}

enum { AL_POSIX, AL_ALIGNED, AL_MEMALIGN, AL_VALLOC, AL_PVALLOC };

/* The memalign family through the real allocator's own entry point when it
 * has one, else through posix_memalign/memalign. *err gets an errno. */
static void *real_aligned(int kind, size_t align, size_t n, int *err)
{
    void *p = NULL;
    size_t page = 4096;
    *err = 0;
    switch (kind) {
    case AL_POSIX:
        *err = real.posix_memalign ? real.posix_memalign(&p, align, n) : ENOMEM;
        return *err ? NULL : p;
    case AL_ALIGNED:
        if (real.aligned_alloc)
            return real.aligned_alloc(align, n);
        break;
    case AL_MEMALIGN:
        if (real.memalign)
            return real.memalign(align, n);
        break;
    case AL_VALLOC:
        if (real.valloc)
            return real.valloc(n);
        align = page;
        break;
    case AL_PVALLOC:
        if (real.pvalloc)
            return real.pvalloc(n);
        align = page;
        n = (n + page - 1) & ~(page - 1);
        if (n == 0)
            n = page;
        break;
    }
    if (real.posix_memalign) {
        int r = real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
        if (r)
            errno = r;
        return r ? NULL : p;
    }
    return real.memalign ? real.memalign(align, n) : NULL;
}

static void *aligned_entry(int kind, size_t align, size_t n, int *err, const struct unwind_start *st)
{
    struct tls *t = &tls;
    *err = 0;
    if (UNLIKELY(t->guard || !g_ready)) {
        if (!__atomic_load_n((void **)&real.malloc, __ATOMIC_ACQUIRE)) {
            void *p = boot_alloc(n, kind >= AL_VALLOC ? 4096 : align);
            if (!p)
                *err = ENOMEM;
            return p;
        }
        if (t->guard && g_ready)
            GLOBAL_INC(recursive_allocs);
        else if (!t->guard)
            GLOBAL_INC(early_allocs);
        return real_aligned(kind, align, n, err);
    }
    t->guard = 1;
    if (UNLIKELY(!t->rec))
        thread_register(t);
    limit_check(t, n);
    void *p = real_aligned(kind, align, n, err);
    if (LIKELY(p)) {
        int e = errno;
        CNT(t, mallocs, 1);
        on_alloc(t, p, n, st);
        errno = e;
    }
    t->guard = 0;
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    CALLER(st);
    int err;
    void *p = aligned_entry(AL_POSIX, align, n, &err, &st);
    if (!p)
        return err ? err : ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    CALLER(st);
    int err;
    return aligned_entry(AL_ALIGNED, align, n, &err, &st);
}

EXPORT void *memalign(size_t align, size_t n)
{
    CALLER(st);
    int err;
    return aligned_entry(AL_MEMALIGN, align, n, &err, &st);
}

EXPORT void *valloc(size_t n)
{
    CALLER(st);
    int err;
    return aligned_entry(AL_VALLOC, 4096, n, &err, &st);
}

EXPORT void *pvalloc(size_t n)
{
    CALLER(st);
    int err;
    return aligned_entry(AL_PVALLOC, 4096, n, &err, &st);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (is_boot(p))
        return boot_size(p);
    return real.usable ? real.usable(p) : 0;
}
