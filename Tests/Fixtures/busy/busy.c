// busy: a target that never rests. It holds 77 blocks from hold_sessions(),
// then two threads churn malloc/free as fast as they can, a third blocks in
// a read that never returns, and every file descriptor is closed (as daemons
// do). drip heap must still answer, and hold_sessions must read exactly 77.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *held[77];

__attribute__((noinline)) void hold_sessions(void) {
    for (int i = 0; i < 77; i++) held[i] = malloc(48);
}

static void *churn(void *arg) {
    uint64_t x = (uintptr_t)arg * 2654435761u + 1;
    void *slots[256] = {0};
    for (;;) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        unsigned i = x & 255;
        free(slots[i]);
        slots[i] = malloc(16 + (x >> 8) % 512);
    }
    return NULL;
}

// Locked by main and never unlocked: this thread blocks forever (a pipe read
// would return when the fds are closed).
static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;

static void *blocked(void *arg) {
    pthread_mutex_lock(&never);
    return arg;
}

int main(void) {
    pthread_mutex_lock(&never);
    hold_sessions();
    printf("ready pid=%d\n", getpid());
    fflush(stdout);
    pthread_t t;
    pthread_create(&t, NULL, blocked, NULL);
    pthread_create(&t, NULL, churn, (void *)1);
    pthread_create(&t, NULL, churn, (void *)2);
    usleep(100000);
    for (int fd = 0; fd < 1024; fd++) close(fd);
    for (;;) pause();
}
