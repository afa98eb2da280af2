/* Linked against libjemalloc: the agent must forward to jemalloc, not to
 * glibc. Evidence: mallctl exists, usable sizes follow jemalloc's size
 * classes, glibc's arena does not grow, and the agent still counts. */
#include <malloc.h>
#include "agent_test.h"

int main(void)
{
    const struct drip_agent_state *s = agent_state();
    CHECK(dlsym(RTLD_DEFAULT, "mallctl") != NULL, "jemalloc is loaded");
    struct mallinfo2 before = mallinfo2();
    struct totals a, b;
    totals(s, &a);
    void *p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = malloc(1000);
    /* jemalloc rounds 1000 up to its 1024 size class; glibc gives 1000+8 rounded to 16 = 1016 */
    CHECK(malloc_usable_size(p[0]) == 1024, "usable %zu", malloc_usable_size(p[0]));
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks < before.uordblks + 100000, "glibc heap grew by %zu", after.uordblks - before.uordblks);
    totals(s, &b);
    CHECK(b.mallocs - a.mallocs == 1000 && b.table_blocks - a.table_blocks == 1000, "agent counted jemalloc blocks");
    uint64_t meta;
    CHECK(find_block(s, p[500], &meta) && DRIP_AGENT_SLOT_SIZE(meta) == 1000, "block tracked");
    for (int i = 0; i < 1000; i++)
        free(p[i]);
    totals(s, &b);
    CHECK(b.table_blocks == a.table_blocks, "all freed");
    return test_done("test_jemalloc");
}
