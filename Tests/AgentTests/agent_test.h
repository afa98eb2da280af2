/*
 * agent_test.h: helpers for the agent's C tests. The tests run with
 * libdrip-agent.so preloaded and read its tables in-process, through the
 * same layout (drip_agent_format.h) drip reads from outside.
 */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drip_agent_format.h"

static int t_checks, t_failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        t_checks++;                                                            \
        if (!(cond)) {                                                         \
            t_failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static __attribute__((unused)) const struct drip_agent_state *agent_state(void)
{
    const struct drip_agent_state *s = (const struct drip_agent_state *)dlsym(RTLD_DEFAULT, DRIP_AGENT_STATE_SYMBOL);
    if (!s || s->magic != DRIP_AGENT_MAGIC || s->version != DRIP_AGENT_FORMAT_VERSION ||
        s->state_size != sizeof(struct drip_agent_state)) {
        fprintf(stderr, "FAIL: agent not preloaded or state invalid\n");
        exit(1);
    }
    return s;
}

struct totals {
    uint64_t mallocs, reallocs, frees, unknown_frees;
    uint64_t alloc_bytes, freed_bytes, alloc_blocks, freed_blocks;
    uint64_t untracked_blocks, sampled;
    int64_t live_bytes;     /* flushed + pending */
    uint64_t table_blocks, table_bytes;
};

static __attribute__((unused)) void totals(const struct drip_agent_state *s, struct totals *t)
{
    memset(t, 0, sizeof *t);
    const struct drip_agent_thread_rec *r = (const struct drip_agent_thread_rec *)(uintptr_t)s->thread_recs_addr;
    t->live_bytes = (int64_t)s->live_bytes_flushed;
    for (uint32_t i = 0; i < s->thread_recs_used; i++) {
        t->mallocs += r[i].mallocs;
        t->reallocs += r[i].reallocs;
        t->frees += r[i].frees;
        t->unknown_frees += r[i].unknown_frees;
        t->alloc_bytes += r[i].alloc_bytes;
        t->freed_bytes += r[i].freed_bytes;
        t->alloc_blocks += r[i].alloc_blocks;
        t->freed_blocks += r[i].freed_blocks;
        t->untracked_blocks += r[i].untracked_blocks;
        t->sampled += r[i].sampled;
        t->live_bytes += (int64_t)r[i].pending;
    }
    const struct drip_agent_shard *sh = (const struct drip_agent_shard *)(uintptr_t)s->shards_addr;
    for (uint32_t i = 0; i < s->shard_count; i++) {
        t->table_blocks += sh[i].count;
        t->table_bytes += sh[i].bytes;
    }
}

/* The slot holding addr, found the way an outside reader would: by
 * scanning the slot arrays (no knowledge of the agent's hash). */
static __attribute__((unused)) int find_block(const struct drip_agent_state *s, const void *p, uint64_t *meta)
{
    const struct drip_agent_shard *sh = (const struct drip_agent_shard *)(uintptr_t)s->shards_addr;
    for (uint32_t i = 0; i < s->shard_count; i++) {
        const struct drip_agent_slot *sl = (const struct drip_agent_slot *)(uintptr_t)sh[i].slots_addr;
        for (uint64_t k = 0; sl && k < sh[i].capacity; k++)
            if (sl[k].addr == (uint64_t)(uintptr_t)p) {
                *meta = sl[k].meta;
                return 1;
            }
    }
    return 0;
}

/* Frames of stack `id`, by walking the chunk directory and records. */
static __attribute__((unused)) uint32_t stack_frames(const struct drip_agent_state *s, uint32_t id, const uint64_t **frames)
{
    const struct drip_agent_stack_chunk *dir = (const struct drip_agent_stack_chunk *)(uintptr_t)s->stack_dir_addr;
    uint32_t expect = 0;
    for (uint32_t c = 0; c < s->stack_dir_used; c++) {
        uint64_t off = 0;
        while (off < dir[c].used) {
            const struct drip_agent_stack_record *r = (const struct drip_agent_stack_record *)(uintptr_t)(dir[c].addr + off);
            if (r->id != expect++) {
                fprintf(stderr, "FAIL: stack ids not dense (%u)\n", r->id);
                return 0;
            }
            if (r->id == id) {
                *frames = (const uint64_t *)(r + 1);
                return r->nframes;
            }
            off += sizeof *r + r->nframes * sizeof(uint64_t);
        }
    }
    *frames = NULL;
    return 0;
}

/* Symbol containing a return address (pc - 1 is inside the call). */
static __attribute__((unused)) const char *sym_of(uint64_t pc)
{
    Dl_info di;
    if (dladdr((void *)(uintptr_t)(pc - 1), &di) && di.dli_sname)
        return di.dli_sname;
    return "?";
}

/* Index of the first frame inside a function named `name`, or -1. */
static __attribute__((unused)) int frame_index(const uint64_t *f, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(sym_of(f[i]), name) == 0)
            return (int)i;
    return -1;
}

static __attribute__((unused)) void print_stack(const uint64_t *f, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        fprintf(stderr, "    #%u %#llx %s\n", i, (unsigned long long)f[i], sym_of(f[i]));
}

static __attribute__((unused)) int test_done(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

#endif
