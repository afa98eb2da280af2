/* White-box test of the block table (blocks.c), compiled together with the
 * agent's table code rather than preloaded:
 *   - a model-checked random run, long overflow chains in one home group,
 *     tag collisions, wrap-around at the last group, and the reader's view
 *     (non-zero addr words of each slot array) against the model;
 *   - threads on biased shards handing blocks to each other (so biases get
 *     revoked while owners are busy), with a reader thread taking seqlock
 *     copies the way drip does and checking each consistent copy.
 * Exits non-zero if any check failed. */
#include <pthread.h>
#include <time.h>

/* Stall an owner now and then inside its entry and its critical section
 * (threaded part only), so revocations meet owners that are mid-way. */
static int delays_on;
static __thread unsigned delay_tick;
static void test_delay(void)
{
    if (!delays_on || ++delay_tick % 23)
        return;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 20000);
}
#define BLOCKS_TEST_DELAY() test_delay()
#include "../../Sources/CDripAgent/blocks.c"
#include "../../Sources/CDripAgent/util.c"
#include "agent_test.h"

struct drip_agent_state drip_agent_state;
static struct drip_agent_thread_rec test_recs[16];
struct drip_agent_thread_rec *agent_recs = test_recs;

/* The model: key -> meta in a plain array indexed by key id. */
#define KEYS 60000
static uint64_t key_addr[KEYS], model_meta[KEYS];

static uint64_t rng = 0x243F6A8885A308D3ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* What the reader would see for one shard: the non-zero addr words. */
static uint64_t reader_count(uint32_t idx, uint64_t *bytes)
{
    const struct drip_agent_shard *sh = &shards[idx];
    const struct drip_agent_slot *s = (const void *)(uintptr_t)sh->slots_addr;
    uint64_t n = 0;
    *bytes = 0;
    for (uint64_t i = 0; i < sh->capacity; i++)
        if (s[i].addr) {
            n++;
            *bytes += DRIP_AGENT_SLOT_SIZE(s[i].meta);
        }
    return n;
}

static void check_against_model(const char *when)
{
    static uint64_t want_count[DRIP_AGENT_SHARDS], want_bytes[DRIP_AGENT_SHARDS];
    memset(want_count, 0, sizeof want_count);
    memset(want_bytes, 0, sizeof want_bytes);
    for (int k = 0; k < KEYS; k++)
        if (model_meta[k]) {
            want_count[block_shard_of(key_addr[k])]++;
            want_bytes[block_shard_of(key_addr[k])] += DRIP_AGENT_SLOT_SIZE(model_meta[k]);
        }
    for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++) {
        uint64_t bytes, n = reader_count(i, &bytes);
        CHECK(shards[i].count == want_count[i] && n == want_count[i],
              "%s: shard %u count %lu, reader sees %lu, model %lu", when, i,
              (unsigned long)shards[i].count, (unsigned long)n, (unsigned long)want_count[i]);
        CHECK(shards[i].bytes == want_bytes[i] && bytes == want_bytes[i],
              "%s: shard %u bytes %lu, reader sees %lu, model %lu", when, i,
              (unsigned long)shards[i].bytes, (unsigned long)bytes, (unsigned long)want_bytes[i]);
        CHECK((shards[i].seq & 1) == 0, "%s: shard %u left locked", when, i);
    }
}

/* Random inserts (fresh and reused addresses) and removes (present and
 * absent) over keys packed into a few 64 KiB regions, so some shards get
 * dense and grow several times. */
static void random_run(void)
{
    for (int k = 0; k < KEYS; k++)
        key_addr[k] = 0x7f0000000000ULL + (uint64_t)(k % 8) * 0x10000000ULL + (uint64_t)(k / 8) * 16;
    for (long step = 0; step < 3000000; step++) {
        uint64_t r = next_rand();
        int k = (int)(r % KEYS);
        if ((r >> 32) % 3 != 0) {
            uint64_t size = 1 + (r >> 40) % 5000, old = 0;
            uint32_t stack = (uint32_t)((r >> 20) % 1000) + 1;
            int res = blocks_insert(0, key_addr[k], size, stack, &old);
            if (model_meta[k]) {
                CHECK(res == BLOCK_REPLACED && old == DRIP_AGENT_SLOT_SIZE(model_meta[k]),
                      "reinsert of %lx: result %d old %lu", (unsigned long)key_addr[k], res,
                      (unsigned long)old);
            } else {
                CHECK(res == BLOCK_INSERTED, "insert of %lx: result %d", (unsigned long)key_addr[k], res);
            }
            model_meta[k] = size | ((uint64_t)stack << DRIP_AGENT_SIZE_BITS);
        } else {
            uint64_t meta = 0;
            int found = blocks_remove(0, key_addr[k], &meta);
            CHECK(found == (model_meta[k] != 0) && (!found || meta == model_meta[k]),
                  "remove of %lx: found %d meta %lx, model %lx", (unsigned long)key_addr[k], found,
                  (unsigned long)meta, (unsigned long)model_meta[k]);
            model_meta[k] = 0;
        }
        if (t_failures)
            return;
        if (step % 500000 == 0)
            check_against_model("random run");
    }
    check_against_model("random run end");
    for (int k = 0; k < KEYS; k++) {
        uint64_t meta;
        if (model_meta[k])
            CHECK(blocks_remove(0, key_addr[k], &meta) == 1, "final remove of %lx", (unsigned long)key_addr[k]);
        model_meta[k] = 0;
    }
    check_against_model("random run emptied");
}

/* Keys in the 64 KiB region whose home group in its shard (at the shard's
 * current capacity) is `group`. With same_tag, the group is picked here:
 * the one whose most common tag has the most keys, all sharing that tag. */
static int colliding_keys(uint64_t region, uint64_t group, int same_tag, uint64_t *out, int want)
{
    struct drip_agent_shard *sh = &shards[block_shard_of(region)];
    uint64_t ng = sh->capacity / GROUP;
    int tag = -1;
    if (same_tag) {
        static int count[4096][128];
        memset(count, 0, sizeof count);
        int best = -1;
        for (uint64_t a = region; a < region + 0x10000; a += 16) {
            uint64_t h = hash_of(a), g = home_of(h, ng);
            int c = ++count[g][tag_of(h) & 0x7F];
            if (c > best) {
                best = c;
                group = g;
                tag = tag_of(h);
            }
        }
    }
    int n = 0;
    for (uint64_t a = region; a < region + 0x10000 && n < want; a += 16) {
        uint64_t h = hash_of(a);
        if (home_of(h, ng) == group && (tag < 0 || tag_of(h) == tag))
            out[n++] = a;
    }
    return n;
}

static int overflow_all_zero(uint32_t idx)
{
    struct drip_agent_shard *sh = &shards[idx];
    const uint8_t *ov = overflow_of((struct drip_agent_slot *)(uintptr_t)sh->slots_addr, sh->capacity);
    for (uint64_t g = 0; g < sh->capacity / GROUP; g++)
        if (ov[g])
            return 0;
    return 1;
}

/* One home group holding far more keys than it has slots: the chain runs
 * through the following groups (and wraps past the last one). Every key
 * stays findable while others are removed in random order, and the
 * overflow bytes count back down to zero. */
static void chain_run(uint64_t region, uint64_t group_pick, int same_tag, const char *name)
{
    uint64_t meta, old;
    uint32_t idx = block_shard_of(region);
    /* First block makes the shard's first array; its capacity is fixed
     * from here while the load stays under 0.8. */
    CHECK(blocks_insert(0, region + 0x8000, 1, 1, &old) == BLOCK_INSERTED, "%s: seed insert", name);
    blocks_remove(0, region + 0x8000, &meta);
    uint64_t ng = shards[idx].capacity / GROUP;
    uint64_t group = group_pick == ~0ULL ? ng - 1 : group_pick;
    uint64_t keys[64];
    int want = same_tag ? 6 : 50, n = colliding_keys(region, group, same_tag, keys, want);
    CHECK(n >= (same_tag ? 3 : 40), "%s: only %d colliding keys found", name, n);
    for (int i = 0; i < n; i++)
        CHECK(blocks_insert(0, keys[i], 100 + (uint64_t)i, 7, &old) == BLOCK_INSERTED, "%s: insert %d", name, i);
    CHECK(shards[idx].capacity / GROUP == ng, "%s: shard grew during the test", name);
    for (int i = 0; i < n; i++)
        CHECK(blocks_insert(0, keys[i], 200 + (uint64_t)i, 8, &old) == BLOCK_REPLACED && old == 100 + (uint64_t)i,
              "%s: reinsert %d gave old %lu", name, i, (unsigned long)old);
    /* remove in a shuffled order, checking the rest after each removal */
    int order[64];
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next_rand() % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < n; i++) {
        int k = order[i];
        CHECK(blocks_remove(0, keys[k], &meta) == 1 && DRIP_AGENT_SLOT_SIZE(meta) == 200 + (uint64_t)k,
              "%s: remove %d", name, k);
        CHECK(blocks_remove(0, keys[k], &meta) == 0, "%s: second remove %d", name, k);
        for (int j = i + 1; j < n; j++) {
            int64_t at = find((struct drip_agent_slot *)(uintptr_t)shards[idx].slots_addr,
                              shards[idx].capacity, keys[order[j]], hash_of(keys[order[j]]));
            CHECK(at >= 0, "%s: key %d lost after removing %d", name, order[j], k);
        }
    }
    CHECK(shards[idx].count == 0 && shards[idx].bytes == 0, "%s: shard not empty", name);
    CHECK(overflow_all_zero(idx), "%s: overflow bytes not back to zero", name);
}

/* ---- threads: biased owners, hand-offs, and a seqlock reader ---- */

#define WORKERS 3
#define PER_WORKER 40000
#define ROUNDS 25
#define RING 4096

/* One ring per worker: worker w hands blocks to worker w + 1, so every
 * hand-off crosses threads. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ring[WORKERS][RING];
static unsigned ring_head[WORKERS], ring_len[WORKERS];
static volatile int workers_done;
static uint64_t reader_copies, reader_retries, handed_over;

static int ring_push(uint32_t to, uint64_t k)
{
    int ok = 0;
    pthread_mutex_lock(&ring_lock);
    if (ring_len[to] < RING) {
        ring[to][(ring_head[to] + ring_len[to]++) % RING] = k;
        ok = 1;
    }
    pthread_mutex_unlock(&ring_lock);
    return ok;
}

static uint64_t ring_pop(uint32_t from)
{
    uint64_t k = 0;
    pthread_mutex_lock(&ring_lock);
    if (ring_len[from]) {
        k = ring[from][ring_head[from]];
        ring_head[from] = (ring_head[from] + 1) % RING;
        ring_len[from]--;
    }
    pthread_mutex_unlock(&ring_lock);
    return k;
}

/* Key n of worker w: its own 64 KiB regions (so its shards are biased to
 * it), 16-byte granules. The size stored is derived from the key, so any
 * thread can check what it removes. */
static uint64_t worker_key(uint32_t w, uint64_t n)
{
    return 0x100000000000ULL * (w + 1) + (n % 20000) * 0x10000ULL / 2048 + (n / 20000) * 0x1000000ULL;
}

static uint64_t size_of_key(uint64_t k)
{
    return 1 + (k >> 4) % 4093;
}

static void remove_checked(uint32_t me, uint64_t k, const char *who)
{
    uint64_t meta = 0;
    int found = blocks_remove(me, k, &meta);
    CHECK(found && DRIP_AGENT_SLOT_SIZE(meta) == size_of_key(k), "%s: remove %lx found %d size %lu", who,
          (unsigned long)k, found, (unsigned long)DRIP_AGENT_SLOT_SIZE(meta));
}

static uint64_t round_no;
static pthread_barrier_t round_start, round_end;

static void *worker(void *arg)
{
    uint32_t w = (uint32_t)(uintptr_t)arg, me = w + 1;
    uint64_t first = round_no * PER_WORKER;
    pthread_barrier_wait(&round_start);
    uint64_t local[512];
    unsigned nlocal = 0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL * me, old;
    for (uint64_t n = first; n < first + PER_WORKER; n++) {
        uint64_t k = worker_key(w, n);
        CHECK(blocks_insert(me, k, size_of_key(k), me, &old) == BLOCK_INSERTED, "worker %u insert", w);
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        if (seed % 8 == 0 && ring_push((w + 1) % WORKERS, k))
            ; /* another thread frees it */
        else if (nlocal < 512)
            local[nlocal++] = k;
        else {
            unsigned i = (unsigned)(seed >> 20) % 512;
            remove_checked(me, local[i], "own");
            local[i] = k;
        }
        if ((seed >> 8) % 8 < 2) {
            uint64_t h = ring_pop(w);
            if (h) {
                remove_checked(me, h, "handed over");
                __atomic_fetch_add(&handed_over, 1, __ATOMIC_RELAXED);
            }
        }
    }
    pthread_barrier_wait(&round_end); /* nobody releases while others still hand over */
    for (unsigned i = 0; i < nlocal; i++)
        remove_checked(me, local[i], "own, at the end");
    blocks_release(me);
    return NULL;
}

/* drip's way: copy the shard header and its slots, re-read seq; an even,
 * unchanged seq means the copy is consistent, and then its non-zero slots
 * must agree with its count and bytes. */
static void *reader(void *arg)
{
    static struct drip_agent_slot copy[1 << 16];
    while (!workers_done) {
        for (uint32_t i = 0; i < DRIP_AGENT_SHARDS && !workers_done; i++) {
            struct drip_agent_shard *sh = &shards[i];
            uint64_t s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
            if (s1 & 1 || !sh->slots_addr)
                continue;
            uint64_t cap = sh->capacity, count = sh->count, bytes = sh->bytes;
            const struct drip_agent_slot *src = (const void *)(uintptr_t)sh->slots_addr;
            if (cap > sizeof copy / sizeof copy[0])
                continue;
            /* The agent unmaps an array it replaced; the test never lets a
             * shard grow while this runs long enough to matter, but read
             * with the same re-check drip uses. */
            memcpy(copy, src, cap * sizeof copy[0]);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&sh->seq, __ATOMIC_RELAXED) != s1) {
                reader_retries++;
                continue;
            }
            uint64_t n = 0, b = 0;
            for (uint64_t j = 0; j < cap; j++)
                if (copy[j].addr) {
                    n++;
                    b += DRIP_AGENT_SLOT_SIZE(copy[j].meta);
                }
            CHECK(n == count && b == bytes, "reader: shard %u consistent copy has %lu blocks %lu bytes, header %lu %lu",
                  i, (unsigned long)n, (unsigned long)b, (unsigned long)count, (unsigned long)bytes);
            reader_copies++;
        }
        sched_yield(); /* 2 cores: let the workers overlap */
    }
    return NULL;
}

static void threaded_run(void)
{
    blocks_bias_init(1);
    /* Warm-up: grow every worker's shards to their final size first, so
     * the reader never copies an array that is being unmapped. */
    for (uint32_t w = 0; w < WORKERS; w++) {
        uint64_t old, meta;
        for (uint64_t n = 0; n < 20000; n++)
            blocks_insert(w + 1, worker_key(w, n), 1, 1, &old);
        for (uint64_t n = 0; n < 20000; n++)
            blocks_remove(w + 1, worker_key(w, n), &meta);
    }
    if (bias_on) {
        /* A thread's exit hands its shards back. */
        uint64_t old, meta, k = worker_key(0, 0);
        blocks_insert(1, k, 1, 1, &old);
        blocks_remove(1, k, &meta);
        CHECK(shards[block_shard_of(k)].owner == 1, "first user did not get the bias");
        blocks_release(1);
        CHECK(shards[block_shard_of(k)].owner == SHARD_UNOWNED, "release kept the bias");
    }
    uint64_t revocations_before = drip_agent_state.shard_revocations;
    pthread_t t[WORKERS], r;
    pthread_barrier_init(&round_start, NULL, WORKERS);
    pthread_barrier_init(&round_end, NULL, WORKERS);
    pthread_create(&r, NULL, reader, NULL);
    delays_on = 1;
    /* Each round hands blocks between threads while their owners work in
     * the same shards; between rounds (all quiet) every shard is made
     * claimable again, so revocations keep happening under load. */
    for (round_no = 0; round_no < ROUNDS && !t_failures; round_no++) {
        for (uint32_t w = 0; w < WORKERS; w++)
            pthread_create(&t[w], NULL, worker, (void *)(uintptr_t)w);
        for (uint32_t w = 0; w < WORKERS; w++)
            pthread_join(t[w], NULL);
        for (uint32_t w = 0; w < WORKERS; w++)
            for (uint64_t k; (k = ring_pop(w));)
                remove_checked(0, k, "left in the ring");
        for (uint32_t i = 0; i < DRIP_AGENT_SHARDS; i++) {
            CHECK(shards[i].count == 0 && shards[i].bytes == 0, "threads: shard %u ends with %lu blocks", i,
                  (unsigned long)shards[i].count);
            CHECK((shards[i].seq & 1) == 0, "threads: shard %u left odd", i);
            CHECK(shards[i].owner == SHARD_UNOWNED || shards[i].owner == SHARD_SHARED,
                  "threads: shard %u still biased to %lu after its thread left", i,
                  (unsigned long)shards[i].owner);
            __atomic_store_n(&shards[i].owner, SHARD_UNOWNED, __ATOMIC_RELEASE);
        }
    }
    delays_on = 0;
    workers_done = 1;
    pthread_join(r, NULL);
    CHECK(reader_copies > 1000, "reader made only %lu consistent copies", (unsigned long)reader_copies);
    if (bias_on)
        CHECK(drip_agent_state.shard_revocations > revocations_before, "no bias was revoked by the hand-offs");
    printf("threads: %lu blocks handed over, biasing %s, %lu revocations, reader %lu consistent copies (%lu retries)\n",
           (unsigned long)handed_over, bias_on ? "on" : "off (no membarrier)",
           (unsigned long)(drip_agent_state.shard_revocations - revocations_before),
           (unsigned long)reader_copies, (unsigned long)reader_retries);
}

int main(void)
{
    blocks_init(0);
    random_run();
    /* Regions chosen to land in shards the random run did not use. */
    uint64_t base = 0x5a0000000000ULL;
    uint64_t r1 = base, r2, r3;
    for (r2 = r1 + 0x10000; block_shard_of(r2) == block_shard_of(r1); r2 += 0x10000)
        ;
    for (r3 = r2 + 0x10000; block_shard_of(r3) == block_shard_of(r1) || block_shard_of(r3) == block_shard_of(r2);
         r3 += 0x10000)
        ;
    chain_run(r1, 3, 0, "chain");
    chain_run(r2, ~0ULL, 0, "chain wrapping past the last group");
    chain_run(r3, 5, 1, "same home and same tag");
    threaded_run();
    printf("table: %d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
