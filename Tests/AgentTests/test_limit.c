/* Leaks 4 KiB blocks forever: with DRIP_LIMIT_BYTES the agent must print
 * one line and raise SIGSYS. */
#include <stdlib.h>
#include <string.h>

int main(void)
{
    for (long i = 0; i < 50000; i++) {
        char *p = malloc(4096);
        if (p)
            memset(p, 1, 64);
    }
    return 0; /* not reached with a limit below 200 MB */
}
