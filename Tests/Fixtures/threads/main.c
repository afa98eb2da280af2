// fixture-threads: a multi-threaded process for the core dumper's tests and bench.
//
//   fixture-threads [--threads N] [--heap MiB] [--quiet]
//
// Starts N worker threads (default 4); worker i runs the i-th of eight
// distinctly named functions (spin_alpha, spin_bravo, ...), which loop
// printing `tick fn=NAME n=COUNT` every ~20 ms. --heap touches MiB of heap
// with pseudo-random (incompressible) bytes before the threads start. Two
// 1 MiB marker regions are mapped: `keep=` (filled with 0x4b, dumped) and
// `dontdump=` (filled with 0x44, MADV_DONTDUMP). Prints `ready pid=...`, then
// the main thread reads stdin until EOF and exits.
// Built -g -O0 -fno-omit-frame-pointer (Package.swift) so stacks are easy to walk.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int quiet;
static volatile uint64_t counters[64];

static void tick(const char *name, int index) {
    uint64_t n = ++counters[index];
    if (!quiet) {
        char line[96];
        int len = snprintf(line, sizeof line, "tick fn=%s n=%llu\n", name, (unsigned long long)n);
        (void)!write(1, line, (size_t)len);
    }
    usleep(20000);
}

// One function per worker so each thread's backtrace names a different frame.
#define SPIN(name) \
    __attribute__((noinline)) static void *name(void *arg) { \
        int index = (int)(intptr_t)arg; \
        for (;;) tick(#name, index); \
        return 0; \
    }
SPIN(spin_alpha)
SPIN(spin_bravo)
SPIN(spin_charlie)
SPIN(spin_delta)
SPIN(spin_echo)
SPIN(spin_foxtrot)
SPIN(spin_golf)
SPIN(spin_hotel)

static void *(*const workers[8])(void *) = {
    spin_alpha, spin_bravo, spin_charlie, spin_delta, spin_echo, spin_foxtrot, spin_golf, spin_hotel,
};

static void touch_heap(size_t mib) {
    if (mib == 0) return;
    size_t bytes = mib << 20;
    uint64_t *p = malloc(bytes);
    if (!p) { perror("malloc"); exit(1); }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < bytes / 8; i++) {  // xorshift64: incompressible
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        p[i] = x;
    }
}

static void *marker(int byte, int dontdump) {
    void *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    memset(p, byte, 1 << 20);
    if (dontdump && madvise(p, 1 << 20, MADV_DONTDUMP) != 0) { perror("madvise"); exit(1); }
    return p;
}

__attribute__((noinline)) static void main_wait(void) {
    char line[256];
    while (fgets(line, sizeof line, stdin)) {}
}

int main(int argc, char **argv) {
    int threads = 4;
    size_t heap = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--heap") && i + 1 < argc) heap = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else { fprintf(stderr, "usage: %s [--threads N] [--heap MiB] [--quiet]\n", argv[0]); return 2; }
    }
    if (threads < 0 || threads > 64) threads = 4;
    touch_heap(heap);
    void *keep = marker(0x4b, 0), *dontdump = marker(0x44, 1);
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, 0, workers[i % 8], (void *)(intptr_t)i) != 0) { perror("pthread_create"); return 1; }
    }
    printf("ready pid=%d threads=%d keep=%p dontdump=%p\n", (int)getpid(), threads, keep, dontdump);
    fflush(stdout);
    main_wait();
    return 0;
}
