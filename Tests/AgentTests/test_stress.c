/* Stress: 4 threads allocating, a SIGALRM timer and SIGUSR1s whose
 * handlers malloc/free/strdup, fork() in a loop (children allocate and
 * exit), every fd but stderr closed, a free of a pointer from before the
 * agent saw it, and finally an exec of itself. Run under `timeout`: a
 * deadlock is a failure. Quiescent forks check that parent and child
 * counts are coherent: the child starts from the fork-point counts and its
 * own calls are its own. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "agent_test.h"

#define NT 4
extern void *__libc_malloc(size_t);

static volatile int stop, pause_req;
static int paused;
static unsigned long handled;

static void handler(int sig)
{
    int e = errno;
    void *p = malloc(64 + sig);
    char *q = strdup("signal");
    free(p);
    free(q);
    __atomic_fetch_add(&handled, 1, __ATOMIC_RELAXED);
    errno = e;
}

static void block_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(how, &set, NULL);
}

static void *worker(void *arg)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
    void *slot[256] = { 0 };
    while (!stop) {
        if (pause_req) {
            block_signals(SIG_BLOCK);
            __atomic_fetch_add(&paused, 1, __ATOMIC_SEQ_CST);
            while (pause_req)
                sched_yield();
            __atomic_fetch_sub(&paused, 1, __ATOMIC_SEQ_CST);
            block_signals(SIG_UNBLOCK);
        }
        for (int i = 0; i < 1000; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            unsigned k = seed % 256;
            switch ((seed >> 40) % 8) {
            case 0:
                slot[k] = realloc(slot[k], 1 + (seed >> 20) % 2000);
                break;
            case 1:
                free(slot[k]);
                slot[k] = calloc(1 + (seed >> 20) % 10, 24);
                break;
            case 2:
                free(slot[k]);
                slot[k] = NULL;
                if (posix_memalign(&slot[k], 64, 100) != 0)
                    slot[k] = NULL;
                break;
            default:
                free(slot[k]);
                slot[k] = malloc(16 + (seed >> 20) % 500);
            }
        }
    }
    for (int k = 0; k < 256; k++)
        free(slot[k]);
    return NULL;
}

static int after_exec(void)
{
    const struct drip_agent_state *s = agent_state();
    CHECK(s->init_pid == (uint64_t)getpid() && s->fork_generation == 0, "fresh agent after exec");
    struct totals a, b;
    totals(s, &a);
    void *p = malloc(777);
    totals(s, &b);
    uint64_t meta;
    CHECK(b.mallocs - a.mallocs == 1, "counting after exec");
    if (s->mode == DRIP_AGENT_MODE_EXACT)
        CHECK(find_block(s, p, &meta), "tracking after exec");
    free(p);
    return test_done("test_stress(after exec)");
}

static int coherent_fork(const struct drip_agent_state *s)
{
    /* Quiesce: workers parked with signals blocked, ours blocked too. */
    block_signals(SIG_BLOCK);
    pause_req = 1;
    while (__atomic_load_n(&paused, __ATOMIC_SEQ_CST) < NT)
        sched_yield();
    struct totals before, after;
    totals(s, &before);
    uint64_t gen = s->fork_generation;
    pid_t pid = fork();
    if (pid == 0) {
        struct totals c0, c1;
        totals(s, &c0);
        int ok = c0.mallocs == before.mallocs && c0.frees == before.frees &&
                 c0.table_blocks == before.table_blocks && c0.live_bytes == before.live_bytes;
        void *v[100];
        for (int i = 0; i < 100; i++)
            v[i] = malloc(100 + i);
        for (int i = 0; i < 100; i++)
            free(v[i]);
        totals(s, &c1);
        ok = ok && c1.mallocs - c0.mallocs == 100 && c1.frees - c0.frees == 100 &&
             c1.table_blocks == c0.table_blocks && c1.live_bytes == c0.live_bytes;
        ok = ok && s->pid == (uint64_t)getpid() && s->fork_generation == gen + 1;
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child counts coherent (status %#x)", status);
    totals(s, &after);
    CHECK(after.mallocs == before.mallocs && after.frees == before.frees &&
              after.table_blocks == before.table_blocks && after.live_bytes == before.live_bytes,
          "parent counts untouched by the child");
    CHECK(s->pid == (uint64_t)getpid(), "parent pid");
    pause_req = 0;
    block_signals(SIG_UNBLOCK);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--after-exec") == 0)
        return after_exec();
    const struct drip_agent_state *s = agent_state();

    /* A daemon closes everything; the agent needs no fd after init. */
    for (int fd = 0; fd < 1024; fd++)
        if (fd != 2)
            close(fd);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    struct itimerval it = { { 0, 500 }, { 0, 500 } };
    setitimer(ITIMER_REAL, &it, NULL);

    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);

    for (int iter = 0; iter < 40; iter++) {
        if (iter % 8 == 0) {
            coherent_fork(s);
        } else {
            pid_t pid = fork();
            if (pid == 0) {
                for (int i = 0; i < 2000; i++)
                    free(malloc(32 + i % 100));
                _exit(0);
            }
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busy fork child exit %#x", status);
        }
        pthread_kill(th[iter % NT], SIGUSR1);
        usleep(2000);
    }
    stop = 1;
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    block_signals(SIG_BLOCK);

    /* Pointer the agent never saw. */
    struct totals a, b;
    totals(s, &a);
    free(__libc_malloc(40));
    totals(s, &b);
    CHECK(b.frees - a.frees == 1, "free counted");
    if (s->mode == DRIP_AGENT_MODE_EXACT) {
        /* Exact mode: the table and the counters tell the same story. */
        CHECK(b.unknown_frees - a.unknown_frees == 1, "unknown free");
        CHECK(b.table_blocks == b.alloc_blocks - b.freed_blocks, "table %llu vs counters %llu",
              (unsigned long long)b.table_blocks, (unsigned long long)(b.alloc_blocks - b.freed_blocks));
        CHECK((int64_t)b.table_bytes == b.live_bytes, "table bytes %llu vs live %lld",
              (unsigned long long)b.table_bytes, (long long)b.live_bytes);
    }
    CHECK(handled > 0, "signal handlers ran (%lu)", handled);
    fprintf(stderr, "test_stress: %lu handler runs, %llu recursive allocs, %llu stacks\n", handled,
            (unsigned long long)s->recursive_allocs, (unsigned long long)s->stack_count);
    if (test_done("test_stress"))
        return 1;
    char *args[] = { argv[0], (char *)"--after-exec", NULL };
    execv("/proc/self/exe", args);
    fprintf(stderr, "FAIL exec: %s\n", strerror(errno));
    return 1;
}
