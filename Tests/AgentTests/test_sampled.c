/* Sampled mode: allocate a known number of bytes, then estimate them from
 * the sampled blocks with weight 1/(1 - exp(-size/period)). Prints
 * "ratio R count_ratio C"; the runner averages 10 runs. Also checks that
 * call counts stay exact. */
#include <math.h>
#include "agent_test.h"

int main(void)
{
    const struct drip_agent_state *s = agent_state();
    CHECK(s->mode == DRIP_AGENT_MODE_SAMPLED && s->sample_bytes > 0, "sampled mode");
    struct totals a, b;
    totals(s, &a);
    uint64_t table_before = a.table_blocks;
    enum { N = 100000 };
    static void *p[N];
    uint64_t seed = 0x1234567ULL ^ (uint64_t)(uintptr_t)&a, truth = 0;
    for (int i = 0; i < N; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        /* 16 B .. 4 KiB, log-spread */
        size_t sz = (size_t)16 << (seed % 8);
        sz += (seed >> 20) % sz;
        p[i] = malloc(sz);
        truth += sz;
    }
    totals(s, &b);
    CHECK(b.mallocs - a.mallocs == N, "mallocs exact in sampled mode: %llu", (unsigned long long)(b.mallocs - a.mallocs));
    double est = 0, cnt = 0, period = (double)s->sample_bytes;
    const struct drip_agent_shard *sh = (const struct drip_agent_shard *)(uintptr_t)s->shards_addr;
    for (uint32_t i = 0; i < s->shard_count; i++) {
        const struct drip_agent_slot *sl = (const struct drip_agent_slot *)(uintptr_t)sh[i].slots_addr;
        for (uint64_t k = 0; sl && k < sh[i].capacity; k++) {
            if (!sl[k].addr)
                continue;
            double size = (double)DRIP_AGENT_SLOT_SIZE(sl[k].meta);
            double w = 1.0 / (1.0 - exp(-size / period));
            est += size * w;
            cnt += w;
        }
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
    totals(s, &a);
    CHECK(a.frees - b.frees == N, "frees exact in sampled mode");
    CHECK(a.table_blocks <= table_before, "sampled blocks all removed: %llu", (unsigned long long)a.table_blocks);
    printf("ratio %.4f count_ratio %.4f samples %llu\n", est / (double)truth, cnt / N,
           (unsigned long long)(b.sampled));
    return test_done("test_sampled");
}
