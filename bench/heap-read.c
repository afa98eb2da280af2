// heap-read: holds 1M live blocks from four call sites, then waits, so that
// bench/heap-read.sh can time `drip heap` on a big live heap.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BLOCKS 1000000
void *kept[BLOCKS];

__attribute__((noinline)) void *site_a(size_t n) { void *p = malloc(n); kept[0] = kept[0]; return p; }
__attribute__((noinline)) void *site_b(size_t n) { void *p = malloc(n); kept[1] = kept[1]; return p; }
__attribute__((noinline)) void *site_c(size_t n) { void *p = calloc(1, n); kept[2] = kept[2]; return p; }
__attribute__((noinline)) void *site_d(size_t n) { void *p = malloc(n); kept[3] = kept[3]; return p; }

int main(void) {
    for (int i = 0; i < BLOCKS; i++) {
        switch (i & 3) {
        case 0: kept[i] = site_a(24); break;
        case 1: kept[i] = site_b(40); break;
        case 2: kept[i] = site_c(56); break;
        default: kept[i] = site_d(100); break;
        }
    }
    printf("ready pid=%d\n", getpid());
    fflush(stdout);
    pause();
    return 0;
}
