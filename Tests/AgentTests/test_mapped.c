/* mapped_bytes must equal the agent's anonymous mappings. In this
 * single-threaded process (main arena only, blocks below the mmap
 * threshold, so glibc maps nothing NORESERVE of its own) the VMAs that are
 * anonymous and carry the "nr" (MAP_NORESERVE) flag in /proc/self/smaps are
 * exactly the agent's tables. Adjacent agent mappings may be merged into
 * one VMA, so compare sums. Checked at start, after the tables grew (slot
 * arrays replaced and the old ones unmapped), and after everything was
 * freed. Tolerance: one page per VMA. */
#include "agent_test.h"

static unsigned n_vmas;

static uint64_t noreserve_anon_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    uint64_t total = 0, lo = 0, hi = 0;
    n_vmas = 0;
    int anon = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8], path[256] = "";
        int n = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &a, &b, perms, &n) == 3 && n > 0) {
            sscanf(line + n, "%255s", path);
            lo = a;
            hi = b;
            anon = strcmp(perms, "rw-p") == 0 && path[0] == 0;
            continue;
        }
        if (strncmp(line, "VmFlags:", 8) == 0) {
            if (anon && strstr(line, " nr"))
                total += hi - lo, n_vmas++;
            anon = 0;
        }
    }
    fclose(f);
    return total;
}

static void check(const struct drip_agent_state *s, const char *when)
{
    uint64_t mapped = __atomic_load_n(&s->mapped_bytes, __ATOMIC_ACQUIRE);
    uint64_t seen = noreserve_anon_bytes();
    CHECK(mapped > 0, "%s: mapped_bytes is 0", when);
    /* Within a page per VMA: ld.so maps one page NORESERVE of its own
     * for the preloaded agent (seen as one extra page at start). */
    CHECK(mapped <= seen && seen - mapped <= 4096ull * n_vmas,
          "%s: mapped_bytes %lu, NORESERVE anonymous mappings %lu in %u VMAs", when,
          (unsigned long)mapped, (unsigned long)seen, n_vmas);
    CHECK(mapped <= s->agent_bytes + 4096 * 64, "%s: mapped %lu vs agent_bytes %lu", when,
          (unsigned long)mapped, (unsigned long)s->agent_bytes);
}

int main(void)
{
    const struct drip_agent_state *s = agent_state();
    check(s, "start");
    enum { N = 300000 };
    static void *v[N];
    for (int i = 0; i < N; i++)
        v[i] = malloc(16 + (i * 37) % 200);
    uint64_t grown = s->mapped_bytes;
    check(s, "after 300k blocks");
    CHECK(grown >= s->block_table_bytes, "slot arrays %lu not counted in %lu",
          (unsigned long)s->block_table_bytes, (unsigned long)grown);
    for (int i = 0; i < N; i++)
        free(v[i]);
    check(s, "after freeing");
    return test_done("test_mapped");
}
