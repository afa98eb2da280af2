/* White-box test of the block table (blocks.c), compiled together with the
 * agent's table code rather than preloaded: a model-checked random run,
 * long overflow chains in one home group, tag collisions, wrap-around at
 * the last group, and the reader's view (non-zero addr words of each slot
 * array) against the model. Exits non-zero on the first inconsistency
 * summary. */
#include "../../Sources/CDripAgent/blocks.c"
#include "../../Sources/CDripAgent/util.c"
#include "agent_test.h"

struct drip_agent_state drip_agent_state;

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
            int res = blocks_insert(key_addr[k], size, stack, &old);
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
            int found = blocks_remove(key_addr[k], &meta);
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
            CHECK(blocks_remove(key_addr[k], &meta) == 1, "final remove of %lx", (unsigned long)key_addr[k]);
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
    CHECK(blocks_insert(region + 0x8000, 1, 1, &old) == BLOCK_INSERTED, "%s: seed insert", name);
    blocks_remove(region + 0x8000, &meta);
    uint64_t ng = shards[idx].capacity / GROUP;
    uint64_t group = group_pick == ~0ULL ? ng - 1 : group_pick;
    uint64_t keys[64];
    int want = same_tag ? 6 : 50, n = colliding_keys(region, group, same_tag, keys, want);
    CHECK(n >= (same_tag ? 3 : 40), "%s: only %d colliding keys found", name, n);
    for (int i = 0; i < n; i++)
        CHECK(blocks_insert(keys[i], 100 + (uint64_t)i, 7, &old) == BLOCK_INSERTED, "%s: insert %d", name, i);
    CHECK(shards[idx].capacity / GROUP == ng, "%s: shard grew during the test", name);
    for (int i = 0; i < n; i++)
        CHECK(blocks_insert(keys[i], 200 + (uint64_t)i, 8, &old) == BLOCK_REPLACED && old == 100 + (uint64_t)i,
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
        CHECK(blocks_remove(keys[k], &meta) == 1 && DRIP_AGENT_SLOT_SIZE(meta) == 200 + (uint64_t)k,
              "%s: remove %d", name, k);
        CHECK(blocks_remove(keys[k], &meta) == 0, "%s: second remove %d", name, k);
        for (int j = i + 1; j < n; j++) {
            int64_t at = find((struct drip_agent_slot *)(uintptr_t)shards[idx].slots_addr,
                              shards[idx].capacity, keys[order[j]], hash_of(keys[order[j]]));
            CHECK(at >= 0, "%s: key %d lost after removing %d", name, order[j], k);
        }
    }
    CHECK(shards[idx].count == 0 && shards[idx].bytes == 0, "%s: shard not empty", name);
    CHECK(overflow_all_zero(idx), "%s: overflow bytes not back to zero", name);
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
    printf("table: %d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
