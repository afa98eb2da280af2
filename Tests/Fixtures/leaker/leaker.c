// leaker: leaks known numbers of blocks from known functions. The tests
// compile it with cc twice (with and without frame pointers), start it under
// the heap agent and compare drip heap's callers with what it did.
//
// stdin commands, each answered on stdout:
//   leak N    N more blocks from leak_more()         -> "leaked N"
//   quit      exit                                    -> (nothing)
// The line numbers of the allocation calls are printed at start so the test
// does not hard-code them: "line_node=NN line_name=NN line_more=NN ...".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Kept reachable (no leak checker would call them leaks) but never freed: the
// heap grows exactly as a leak does. Storing every result also stops the
// compiler from turning the calls into tail calls.
void *kept[100000];  // global: the compiler must keep every malloc that fills it
int nkept;
// The source line of each allocation call, printed for the test.
static int line_node, line_name, line_table, line_more;

__attribute__((noinline)) void leak_node(int n) {
    line_node = __LINE__; for (int i = 0; i < n; i++) kept[nkept++] = malloc(64);
}

__attribute__((noinline)) void leak_name(int n) {
    line_name = __LINE__; for (int i = 0; i < n; i++) kept[nkept++] = strdup("eleven char");
}

__attribute__((noinline)) void leak_table(int n) {
    line_table = __LINE__; for (int i = 0; i < n; i++) kept[nkept++] = calloc(10, 20);
}

__attribute__((noinline)) void leak_more(int n) {
    line_more = __LINE__; for (int i = 0; i < n; i++) kept[nkept++] = malloc(100);
}

// Allocated and freed again: must not show up as live.
__attribute__((noinline)) void churn(int n) {
    for (int i = 0; i < n; i++) {
        void *p = malloc(32);
        void *q = realloc(p, 300);
        free(q);
    }
}

int main(void) {
    static char inbuf[4096], outbuf[4096];
    setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
    setvbuf(stdout, outbuf, _IOLBF, sizeof outbuf);
    leak_node(100);
    leak_name(30);
    leak_table(20);
    churn(500);
    leak_more(0);
    printf("line_node=%d line_name=%d line_table=%d line_more=%d\n", line_node, line_name, line_table, line_more);
    printf("ready pid=%d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "leak ", 5)) {
            int n = atoi(line + 5);
            leak_more(n);
            printf("leaked %d\n", n);
        } else if (!strncmp(line, "quit", 4)) {
            return 0;
        }
    }
    return 0;
}
