// fixture-memory: maps known amounts of memory, prints what it did as
// key=value lines, then waits for its stdin to close (or a "quit" line).
// Tests compare drip's columns against these numbers.
//
// Usage: fixture-memory [--heap BYTES] [--anon BYTES] [--threads N --thread-stack BYTES]
//                       [--shared BYTES] [--library PATH] [--tag WORD]
// After setup it prints "ready" and then reads commands from stdin:
//   grow N    malloc and touch N more bytes (a leak), print "grew N"
//   quit      exit 0
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_barrier_t started;

static void *idle_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&started);
    for (;;) pause();
    return NULL;
}

static unsigned long long parse_size(const char *s) { return strtoull(s, NULL, 0); }

int main(int argc, char **argv) {
    unsigned long long heap = 0, anon = 0, shared = 0, stack = 0;
    int threads = 0;
    const char *library = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--heap")) heap = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--anon")) anon = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--shared")) shared = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--thread-stack")) stack = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--library")) library = argv[i + 1];
        else if (!strcmp(argv[i], "--tag")) continue; // only makes the command line (the JID key) unique
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    // Static stdio buffers: the first read of stdin must not grow the heap
    // after "ready", or tests would race the fixture's own allocations.
    static char inbuf[4096], outbuf[4096];
    setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
    setvbuf(stdout, outbuf, _IOLBF, sizeof outbuf);

    if (heap) {
        // Small blocks stay in the brk heap (below the mmap threshold).
        unsigned long long done = 0;
        while (done < heap) {
            char *p = malloc(4096);
            memset(p, 1, 4096);
            done += 4096;
        }
        printf("heap=%llu\n", heap);
    }
    if (anon) {
        void *p = mmap(NULL, anon, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { perror("mmap"); return 1; }
        memset(p, 2, anon);
        printf("anon=%llu addr=%p\n", anon, p);
    }
    if (shared) {
        void *p = mmap(NULL, shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { perror("mmap shared"); return 1; }
        memset(p, 3, shared);
        printf("shared=%llu addr=%p\n", shared, p);
    }
    if (threads) {
        pthread_barrier_init(&started, NULL, threads + 1);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (stack) pthread_attr_setstacksize(&attr, stack);
        for (int i = 0; i < threads; i++) {
            pthread_t t;
            if (pthread_create(&t, &attr, idle_thread, NULL)) { perror("pthread_create"); return 1; }
        }
        pthread_barrier_wait(&started);
        size_t guard = 0;
        pthread_attr_getguardsize(&attr, &guard);
        printf("threads=%d thread_stack=%llu guard=%zu\n", threads, stack, guard);
    }
    if (library) {
        void *h = dlopen(library, RTLD_NOW);
        if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
        printf("library=%s\n", library);
    }
    printf("ready pid=%d\n", getpid());

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "grow ", 5)) {
            unsigned long long n = parse_size(line + 5), done = 0;
            while (done < n) {
                char *p = malloc(1024);
                memset(p, 4, 1024);
                done += 1024;
            }
            printf("grew %llu\n", n);
        } else if (!strncmp(line, "quit", 4)) {
            return 0;
        }
    }
    return 0;
}
