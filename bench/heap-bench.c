/*
 * heap-bench.c: the heap agent's microbenchmark (run by bench/heap-agent.sh).
 *
 *   heap-bench churn [threads] [pairs]
 *       each thread keeps 1024 slots; for each pair it picks a slot
 *       pseudo-randomly, frees what is there and mallocs 16..272 bytes.
 *       Prints the wall time in seconds.
 *   heap-bench hold N
 *       holds N live blocks of 16..272 bytes and prints the agent's memory
 *       (from drip_agent_state, when preloaded) per live block.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "drip_agent_format.h"

#define SLOTS 1024

static long pairs = 2000000;

static inline uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *worker(void *arg)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
    void *slot[SLOTS] = { 0 };
    for (long i = 0; i < pairs; i++) {
        uint64_t r = xs(&seed);
        unsigned k = r % SLOTS;
        free(slot[k]);
        slot[k] = malloc(16 + (r >> 32) % 257);
        if (slot[k])
            *(volatile char *)slot[k] = 1;
    }
    for (unsigned k = 0; k < SLOTS; k++)
        free(slot[k]);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "churn";
    if (strcmp(mode, "churn") == 0) {
        int threads = argc > 2 ? atoi(argv[2]) : 2;
        if (argc > 3)
            pairs = atol(argv[3]);
        pthread_t t[64];
        double t0 = now();
        for (int i = 0; i < threads && i < 64; i++)
            pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
        for (int i = 0; i < threads && i < 64; i++)
            pthread_join(t[i], NULL);
        printf("%.4f\n", now() - t0);
        return 0;
    }
    if (strcmp(mode, "hold") == 0) {
        long n = argc > 2 ? atol(argv[2]) : 1000000;
        void **v = malloc(n * sizeof *v);
        uint64_t seed = 12345, bytes = 0;
        for (long i = 0; i < n; i++) {
            size_t sz = 16 + xs(&seed) % 257;
            v[i] = malloc(sz);
            bytes += sz;
        }
        const struct drip_agent_state *s = dlsym(RTLD_DEFAULT, DRIP_AGENT_STATE_SYMBOL);
        if (!s || s->magic != DRIP_AGENT_MAGIC) {
            printf("no agent\n");
        } else {
            uint64_t blocks = 0;
            const struct drip_agent_shard *sh = (const void *)(uintptr_t)s->shards_addr;
            for (uint32_t i = 0; i < s->shard_count; i++)
                blocks += sh[i].count;
            printf("live_blocks %llu requested_bytes %llu block_table_bytes %llu agent_bytes %llu "
                   "table_per_block %.1f agent_per_block %.1f\n",
                   (unsigned long long)blocks, (unsigned long long)bytes,
                   (unsigned long long)s->block_table_bytes, (unsigned long long)s->agent_bytes,
                   (double)s->block_table_bytes / blocks, (double)s->agent_bytes / blocks);
        }
        for (long i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return 0;
    }
    fprintf(stderr, "usage: heap-bench churn [threads] [pairs] | hold N\n");
    return 2;
}
