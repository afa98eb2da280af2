/* A well-behaved service with a child in its process group and a second
 * thread: what stop/start/restart and shutdown must leave nothing of. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    if (argc > 1 && fork() == 0) {
        /* The child ignores SIGTERM: only the group SIGKILL removes it. */
        signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    for (;;)
        pause();
    return 0;
}
