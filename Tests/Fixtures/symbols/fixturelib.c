/* Shared library for DripSymbolsTests (libdripfixture.so). */
#include <stdio.h>

__attribute__((noinline)) int drip_fixture_lib_func(int x) { /* LINE:drip_fixture_lib_func */
    return x * 3;
}

/* Prints the function's address from inside the library: a non-PIE executable that
 * took the address itself would get its PLT stub (the canonical address), not the code. */
void drip_fixture_lib_report(void) {
    printf("lib %p\n", (void *)&drip_fixture_lib_func);
}
