/* Fixture for DripSymbolsTests: built by the tests as a PIE and as a non-PIE
 * executable. Prints the runtime addresses of a function of its own, of a shared
 * library function and of a data object, then waits for stdin to close.
 * The LINE: markers are the oracle for the line numbers the symbolizer reports. */
#include <stdio.h>

int drip_fixture_lib_func(int x);
void drip_fixture_lib_report(void);

int drip_fixture_counter = 7;

__attribute__((noinline)) int drip_fixture_func(int x) { /* LINE:drip_fixture_func */
    return x + drip_fixture_counter;
}

int main(void) {
    printf("func %p\n", (void *)&drip_fixture_func);
    drip_fixture_lib_report();
    printf("counter %p\n", (void *)&drip_fixture_counter);
    fflush(stdout);
    while (getchar() != EOF) {}
    return drip_fixture_func(1) + drip_fixture_lib_func(2) > 0 ? 0 : 1;
}
