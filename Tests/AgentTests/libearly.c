/* A library whose constructor allocates before the agent's own constructor
 * runs (it is a DT_NEEDED of test_early, so it is initialised first):
 * exercises the first-call path (resolve the real allocator on demand). */
#include <stdlib.h>
#include <string.h>

void *early_block;
void *early_realloced;

__attribute__((constructor)) static void early_init(void)
{
    early_block = malloc(123);
    void *c = calloc(4, 8);
    early_realloced = realloc(c, 4096);
    void *tmp = strdup("early");
    free(tmp);
}
