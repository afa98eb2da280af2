/*
 * util.c: the few primitives the agent needs that must not allocate:
 * memory straight from mmap, spin/seq locks, a stderr line, and -ln(u) for
 * the sampler without libm.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"

static inline uint64_t page_round(size_t bytes)
{
    return ((uint64_t)bytes + 4095u) & ~(uint64_t)4095u;
}

void *agent_map(size_t bytes)
{
    /* MAP_NORESERVE: big tables are mostly untouched address space; pages
     * become memory only when written. */
    /* errno is kept here, on the rare paths that can change it, so the hot
     * paths do not have to save it around every bookkeeping step. */
    int e = errno;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = e;
    if (p == MAP_FAILED)
        return NULL;
    __atomic_fetch_add(&drip_agent_state.agent_bytes, bytes, __ATOMIC_RELAXED);
    /* mapped_bytes: what the kernel really maps (whole pages), so drip can
     * subtract it from the process's anonymous memory. */
    __atomic_fetch_add(&drip_agent_state.mapped_bytes, page_round(bytes), __ATOMIC_RELAXED);
    return p;
}

void agent_unmap(void *p, size_t bytes)
{
    if (!p)
        return;
    int e = errno;
    munmap(p, bytes);
    errno = e;
    __atomic_fetch_sub(&drip_agent_state.agent_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&drip_agent_state.mapped_bytes, page_round(bytes), __ATOMIC_RELAXED);
}

void agent_write_stderr(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return; /* closed or broken stderr: nothing more we can do */
        s += w;
        n -= (size_t)w;
    }
}

size_t agent_fmt_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Spin with pause, then yield: a holder may have been preempted (2 cores). */
void seq_lock_slow(uint64_t *seq)
{
    for (unsigned spins = 0;; spins++) {
        uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
        if (!(s & 1) &&
            __atomic_compare_exchange_n(seq, &s, s + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
}

void spin_lock(uint32_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(l, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
            return;
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
}

/*
 * -ln(u) for u in (0, 1], no libm. u = m * 2^e with m reduced to
 * [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(z), z = (m-1)/(m+1), |z| <= 0.1716,
 * summed to z^11. The first omitted term is 2 z^13/13 < 1.7e-11, so the
 * relative error of ln(m) is below 1e-10 and the result is accurate to
 * about 1e-10 absolute: far below the Monte-Carlo noise of sampling.
 */
double agent_neg_log(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL; /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    double z = (m - 1.0) / (m + 1.0);
    double z2 = z * z;
    double s = 1.0 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 + z2 * (1.0 / 11)))));
    double ln = (double)e * 0.6931471805599453 + 2.0 * z * s;
    return -ln;
}
