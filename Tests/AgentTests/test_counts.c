/* Exact mode: call counts, live blocks and bytes, block sizes, errno,
 * frees of pointers the agent never saw, realloc(p, 0), the watermark. */
#include <errno.h>
#include <malloc.h>
#include <unistd.h>
#include "agent_test.h"

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

int main(void)
{
    fprintf(stderr, "test_counts: start\n"); /* stdio buffers allocated now */
    const struct drip_agent_state *s = agent_state();
    CHECK(s->mode == DRIP_AGENT_MODE_EXACT, "mode %u", s->mode);
    CHECK(s->pid == (uint64_t)getpid() && s->init_pid == (uint64_t)getpid(), "pid");
    CHECK(s->ready == 1, "ready");
    CHECK(s->shard_size == sizeof(struct drip_agent_shard) && s->slot_size == 16, "sizes");
    /* run-tests.sh says what the biasing should be (1 where membarrier works). */
    const char *want_bias = getenv("EXPECT_BIASED");
    if (want_bias)
        CHECK(s->biased == (uint32_t)atoi(want_bias), "biased %u, expected %s", s->biased, want_bias);

    struct totals a, b, c;
    totals(s, &a);
    void *p[32];
    int k = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < 10; i++, k++)
        p[k] = malloc(100), bytes += 100;
    for (int i = 0; i < 5; i++, k++)
        p[k] = calloc(3, 40), bytes += 120;
    for (int i = 0; i < 3; i++, k++) {
        CHECK(posix_memalign(&p[k], 64, 200) == 0 && ((uintptr_t)p[k] & 63) == 0, "posix_memalign");
        bytes += 200;
    }
    p[k++] = aligned_alloc(128, 256), bytes += 256;
    p[k++] = memalign(32, 50), bytes += 50;
    p[k++] = valloc(10), bytes += 10;
    p[k++] = pvalloc(10), bytes += 10;
    p[k++] = realloc(NULL, 77), bytes += 77; /* a malloc */
    int n = k;
    totals(s, &b);
    CHECK(b.mallocs - a.mallocs == (uint64_t)n, "mallocs +%llu want %d", (unsigned long long)(b.mallocs - a.mallocs), n);
    CHECK(b.table_blocks - a.table_blocks == (uint64_t)n, "live blocks +%llu", (unsigned long long)(b.table_blocks - a.table_blocks));
    CHECK(b.table_bytes - a.table_bytes == bytes, "live bytes +%llu want %llu", (unsigned long long)(b.table_bytes - a.table_bytes), (unsigned long long)bytes);
    CHECK(b.live_bytes - a.live_bytes == (int64_t)bytes, "counter live bytes");
    CHECK(b.frees == a.frees && b.reallocs == a.reallocs, "no frees/reallocs yet");

    uint64_t meta;
    CHECK(find_block(s, p[0], &meta) && DRIP_AGENT_SLOT_SIZE(meta) == 100, "block p[0] size");
    CHECK(find_block(s, p[10], &meta) && DRIP_AGENT_SLOT_SIZE(meta) == 120, "calloc size");
    CHECK(DRIP_AGENT_SLOT_STACK(meta) < s->stack_count, "stack id %u < %llu", DRIP_AGENT_SLOT_STACK(meta), (unsigned long long)s->stack_count);

    /* realloc and reallocarray: the old block leaves, the new one enters. */
    p[0] = realloc(p[0], 1000);
    p[1] = reallocarray(p[1], 10, 20);
    bytes += 900 + 100;
    totals(s, &c);
    CHECK(c.reallocs - b.reallocs == 2, "reallocs +%llu", (unsigned long long)(c.reallocs - b.reallocs));
    CHECK(c.mallocs == b.mallocs && c.table_blocks == b.table_blocks, "realloc keeps block count");
    CHECK(c.table_bytes - a.table_bytes == bytes, "bytes after realloc");
    CHECK(find_block(s, p[0], &meta) && DRIP_AGENT_SLOT_SIZE(meta) == 1000, "realloc'd size");
    CHECK(malloc_usable_size(p[0]) >= 1000, "usable size forwards");

    /* errno survives free. */
    errno = 1234;
    free(p[2]);
    CHECK(errno == 1234, "errno %d", errno);
    p[2] = NULL;
    free(NULL);
    for (int i = 3; i < n; i++)
        free(p[i]);
    /* realloc(p, 0) frees in glibc */
    void *z = realloc(p[0], 0);
    if (z)
        free(z);
    free(p[1]);
    totals(s, &c);
    CHECK(c.table_blocks == a.table_blocks, "blocks back %llu vs %llu", (unsigned long long)c.table_blocks, (unsigned long long)a.table_blocks);
    CHECK(c.table_bytes == a.table_bytes, "bytes back");
    CHECK(c.live_bytes == a.live_bytes, "counter live bytes back");
    CHECK(c.frees - a.frees == (uint64_t)n, "frees +%llu want %d", (unsigned long long)(c.frees - a.frees), n);
    CHECK(c.unknown_frees == a.unknown_frees, "no unknown frees");

    /* A pointer the agent never saw: forwarded, counted. */
    void *u = __libc_malloc(50);
    free(u);
    totals(s, &b);
    CHECK(b.unknown_frees - c.unknown_frees == 1 && b.frees - c.frees == 1, "unknown free counted");

    /* Many blocks in few 64 KiB regions: shards grow several times and
     * buckets overflow into their neighbours. Freed in a shuffled order,
     * every block must still be found (an unfound one counts as unknown). */
    {
        enum { N = 200000 };
        void **v = __libc_malloc(N * sizeof *v);
        uint64_t seed = 88172645463325252ULL;
        totals(s, &a);
        for (int i = 0; i < N; i++)
            v[i] = malloc(16 + i % 48);
        for (int i = N - 1; i > 0; i--) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            int j = (int)(seed % (uint64_t)(i + 1));
            void *x = v[i];
            v[i] = v[j];
            v[j] = x;
        }
        totals(s, &b);
        CHECK(b.table_blocks - a.table_blocks == N, "bulk: table +%llu", (unsigned long long)(b.table_blocks - a.table_blocks));
        CHECK(find_block(s, v[0], &meta) && find_block(s, v[N / 2], &meta), "bulk: blocks in the slot arrays");
        for (int i = 0; i < N / 2; i++)
            free(v[i]);
        for (int i = 0; i < N / 2; i++) /* re-insert into a half-empty, overflowed table */
            v[i] = malloc(16 + i % 48);
        for (int i = 0; i < N; i++)
            free(v[i]);
        totals(s, &b);
        CHECK(b.unknown_frees == a.unknown_frees, "bulk: %llu frees not found",
              (unsigned long long)(b.unknown_frees - a.unknown_frees));
        CHECK(b.table_blocks == a.table_blocks && b.table_bytes == a.table_bytes, "bulk: table back");
        __libc_free(v);
    }

    /* Watermark follows a 1 MiB peak within the flush batch. */
    void *big[16];
    for (int i = 0; i < 16; i++)
        big[i] = malloc(65536);
    for (int i = 0; i < 16; i++)
        free(big[i]);
    CHECK(s->high_watermark_bytes + s->flush_batch_bytes >= (uint64_t)(a.live_bytes + (1 << 20)),
          "watermark %llu", (unsigned long long)s->high_watermark_bytes);
    return test_done("test_counts");
}
