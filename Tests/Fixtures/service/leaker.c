/* A service that leaks until its memory_limit stops it: 64 KiB every 2 ms,
 * from leak_forever(), the function the core's backtrace must name.
 * With LEAK_ONCE=FILE it leaks only when FILE does not exist yet (creating
 * it first), so the respawned copy stays up and idle. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) void leak_forever(void)
{
    for (;;) {
        char *p = malloc(64 * 1024);
        if (p)
            memset(p, 0x5a, 64 * 1024); /* touch it: real Dynamic memory */
        usleep(2000);
    }
}

int main(void)
{
    const char *once = getenv("LEAK_ONCE");
    if (once) {
        int fd = open(once, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) {
            for (;;)
                pause(); /* already leaked once: idle */
        }
        close(fd);
    }
    leak_forever();
    return 0;
}
