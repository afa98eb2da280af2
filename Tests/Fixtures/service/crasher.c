/* A service that segfaults at once: the crash loop the hold-down must stop. */
#include <stddef.h>

__attribute__((noinline)) void crash_now(volatile int *p)
{
    *p = 42;
}

int main(void)
{
    crash_now(NULL);
    return 0;
}
