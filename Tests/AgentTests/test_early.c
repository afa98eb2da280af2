/* Allocations made before the agent was ready are forwarded to the real
 * allocator untracked; freeing them later is an "unknown free". */
#include "agent_test.h"

extern void *early_block;
extern void *early_realloced;

int main(void)
{
    const struct drip_agent_state *s = agent_state();
    CHECK(early_block != NULL && early_realloced != NULL, "early allocations succeeded");
    CHECK(s->early_allocs >= 2, "early allocations counted: %llu", (unsigned long long)s->early_allocs);
    uint64_t meta;
    CHECK(!find_block(s, early_block, &meta), "early block not in the table");
    struct totals a, b;
    totals(s, &a);
    free(early_block);
    void *z = realloc(early_realloced, 0); /* glibc: frees, returns NULL */
    free(z);
    totals(s, &b);
    CHECK(b.unknown_frees - a.unknown_frees == 2, "unknown frees +%llu", (unsigned long long)(b.unknown_frees - a.unknown_frees));
    void *p = malloc(10);
    CHECK(find_block(s, p, &meta), "tracking works after early phase");
    free(p);
    fprintf(stderr, "test_early: bootstrap bytes %llu, early allocs %llu\n",
            (unsigned long long)s->bootstrap_bytes, (unsigned long long)s->early_allocs);
    return test_done("test_early");
}
