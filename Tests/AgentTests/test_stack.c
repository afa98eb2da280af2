/* Allocation stacks. Built twice: -O0 with frame pointers, and -O2
 * -fomit-frame-pointer with rbp deliberately trashed (OMIT_FP), which only
 * the CFI unwinder can walk. Also: through libc (strdup, qsort callback). */
#include <string.h>
#include "agent_test.h"

volatile uintptr_t sink;
static void *qsort_block;

__attribute__((noinline)) void *leak_here(size_t n)
{
    void *p = malloc(n);
    sink = (uintptr_t)p; /* no tail call: leak_here must stay on the stack */
    return p;
}

__attribute__((noinline)) void *level2(size_t n)
{
    volatile char pad[300];
    pad[0] = (char)n;
#ifdef OMIT_FP
    /* rbp is an ordinary register here: fill it with garbage so a
     * frame-pointer walk cannot succeed. */
    __asm__ volatile("mov $0x7777, %%rbp" ::: "rbp");
#endif
    void *p = leak_here(n + pad[0] * 0);
    sink += pad[0];
    return p;
}

__attribute__((noinline)) void *level1(size_t n)
{
    volatile char pad[5000];
    pad[10] = 1;
    void *p = level2(n);
    sink += pad[10];
    return p;
}

__attribute__((noinline)) char *dup_here(const char *s)
{
    char *d = strdup(s);
    sink = (uintptr_t)d;
    return d;
}

__attribute__((noinline)) int cmp_leak(const void *a, const void *b)
{
    if (!qsort_block)
        qsort_block = malloc(4242);
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

__attribute__((noinline)) void sort_here(int *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_leak);
    sink += (uintptr_t)v[0];
}

static void check_chain(const struct drip_agent_state *s, void *p, const char **names, int count,
                        const char *what)
{
    uint64_t meta;
    const uint64_t *f;
    if (!find_block(s, p, &meta)) {
        CHECK(0, "%s: block not in table", what);
        return;
    }
    uint32_t n = stack_frames(s, DRIP_AGENT_SLOT_STACK(meta), &f);
    int last = -1, ok = 1;
    for (int i = 0; i < count; i++) {
        int at = frame_index(f, n, names[i]);
        if (at <= last)
            ok = 0;
        last = at;
    }
    CHECK(n > 0 && ok, "%s: want %s..%s in order", what, names[0], names[count - 1]);
    if (!ok || getenv("SHOW_STACKS"))
        print_stack(f, n);
}

int main(void)
{
    const struct drip_agent_state *s = agent_state();
    void *p = level1(1234);
    const char *chain[] = { "leak_here", "level2", "level1", "main" };
    check_chain(s, p, chain, 4, "direct malloc");
    uint64_t meta;
    const uint64_t *f;
    if (find_block(s, p, &meta)) {
        uint32_t n = stack_frames(s, DRIP_AGENT_SLOT_STACK(meta), &f);
        CHECK(n > 0 && strcmp(sym_of(f[0]), "leak_here") == 0, "first frame is the leaking function, got %s",
              n ? sym_of(f[0]) : "-");
    }

    char *d = dup_here("hello, drip");
    const char *dchain[] = { "dup_here", "main" };
    check_chain(s, d, dchain, 2, "strdup");
    if (find_block(s, d, &meta)) {
        uint32_t n = stack_frames(s, DRIP_AGENT_SLOT_STACK(meta), &f);
        CHECK(n > 1 && strcmp(sym_of(f[1]), "dup_here") == 0, "strdup's caller is frame 1, got %s",
              n > 1 ? sym_of(f[1]) : "-");
    }

    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    sort_here(v, 64);
    const char *qchain[] = { "cmp_leak", "sort_here", "main" };
    check_chain(s, qsort_block, qchain, 3, "malloc in a qsort callback (through libc)");

    /* The same stack twice (same call sites) dedupes to one id. */
    void *two[2];
    for (volatile int i = 0; i < 2; i++) /* volatile: one call site, no unrolling */
        two[i] = level1(99);
    uint64_t m1 = 0, m2 = 0;
    find_block(s, two[0], &m1);
    find_block(s, two[1], &m2);
    CHECK(m1 && DRIP_AGENT_SLOT_STACK(m1) == DRIP_AGENT_SLOT_STACK(m2), "same stack, same id");
    free(two[0]);
    free(two[1]);
    free(p);
    free(d);
    free(qsort_block);
#ifdef OMIT_FP
    return test_done("test_stack_cfi");
#else
    return test_done("test_stack_fp");
#endif
}
