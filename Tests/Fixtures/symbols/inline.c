/* Inlining fixture for DripSymbolsTests: prints a return address that lies in
 * code `helper` contributed to `outer` after inlining. Built -no-pie (bias 0), so
 * the printed address minus one is directly the file address to symbolize. */
#include <stdio.h>

__attribute__((noinline)) void probe(void) { printf("ret %p\n", __builtin_return_address(0)); }

static inline __attribute__((always_inline)) void helper(void) {
    probe(); /* LINE:helper */
}

__attribute__((noinline)) void outer(void) {
    helper(); /* LINE:outer */
}

int main(void) {
    outer();
    return 0;
}
