#define _GNU_SOURCE
#include "drip_ptrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int result(long r) { return r < 0 ? -errno : 0; }

int drip_ptrace_seize(pid_t tid, unsigned long options) {
    return result(ptrace(PTRACE_SEIZE, tid, 0, (void *)options));
}

int drip_ptrace_interrupt(pid_t tid) { return result(ptrace(PTRACE_INTERRUPT, tid, 0, 0)); }

int drip_ptrace_setoptions(pid_t tid, unsigned long options) {
    return result(ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)options));
}

int drip_ptrace_detach(pid_t tid, int signal) {
    return result(ptrace(PTRACE_DETACH, tid, 0, (void *)(long)signal));
}

int drip_ptrace_syscall(pid_t tid, int signal) {
    return result(ptrace(PTRACE_SYSCALL, tid, 0, (void *)(long)signal));
}

int drip_ptrace_getregs(pid_t tid, struct user_regs_struct *regs) {
    return result(ptrace(PTRACE_GETREGS, tid, 0, regs));
}

int drip_ptrace_setregs(pid_t tid, const struct user_regs_struct *regs) {
    return result(ptrace(PTRACE_SETREGS, tid, 0, (void *)regs));
}

int drip_ptrace_getfpregs(pid_t tid, struct user_fpregs_struct *regs) {
    return result(ptrace(PTRACE_GETFPREGS, tid, 0, regs));
}

long drip_ptrace_getregset(pid_t tid, unsigned int type, void *buffer, size_t capacity) {
    struct iovec iov = {buffer, capacity};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)(unsigned long)type, &iov) < 0) return -errno;
    return (long)iov.iov_len;
}

int drip_ptrace_getsiginfo(pid_t tid, void *siginfo128) {
    return result(ptrace(PTRACE_GETSIGINFO, tid, 0, siginfo128));
}

int drip_ptrace_geteventmsg(pid_t tid, unsigned long *message) {
    return result(ptrace(PTRACE_GETEVENTMSG, tid, 0, message));
}

int drip_ptrace_getsigmask(pid_t tid, uint64_t *mask) {
    return result(ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(*mask), mask));
}

int drip_ptrace_setsigmask(pid_t tid, uint64_t mask) {
    return result(ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask));
}

pid_t drip_wait(pid_t pid, int *status, int nohang) {
    for (;;) {
        pid_t r = waitpid(pid, status, __WALL | (nohang ? WNOHANG : 0));
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

int drip_status_stopped(int status) { return WIFSTOPPED(status); }
int drip_status_stop_signal(int status) { return WIFSTOPPED(status) ? WSTOPSIG(status) : 0; }
int drip_status_event(int status) { return WIFSTOPPED(status) ? (status >> 16) & 0xff : 0; }
int drip_status_exited(int status) { return WIFEXITED(status) || WIFSIGNALED(status); }

size_t drip_prstatus_size(void) { return sizeof(struct elf_prstatus); }
size_t drip_prpsinfo_size(void) { return sizeof(struct elf_prpsinfo); }

void drip_prstatus_fill(void *out, const drip_prstatus_info *in, const struct user_regs_struct *regs) {
    struct elf_prstatus s;
    memset(&s, 0, sizeof s);
    s.pr_info.si_signo = in->signo;
    s.pr_info.si_code = in->code;
    s.pr_info.si_errno = in->error;
    s.pr_cursig = in->cursig;
    s.pr_sigpend = in->sigpend;
    s.pr_sighold = in->sighold;
    s.pr_pid = in->pid;
    s.pr_ppid = in->ppid;
    s.pr_pgrp = in->pgrp;
    s.pr_sid = in->sid;
    s.pr_utime.tv_sec = in->utime_us / 1000000;
    s.pr_utime.tv_usec = in->utime_us % 1000000;
    s.pr_stime.tv_sec = in->stime_us / 1000000;
    s.pr_stime.tv_usec = in->stime_us % 1000000;
    /* elf_gregset_t has exactly user_regs_struct's layout on x86-64. */
    _Static_assert(sizeof(s.pr_reg) == sizeof(*regs), "gregset layout");
    memcpy(&s.pr_reg, regs, sizeof s.pr_reg);
    s.pr_fpvalid = 1;
    memcpy(out, &s, sizeof s);
}

void drip_prpsinfo_fill(void *out, const drip_prpsinfo_info *in) {
    struct elf_prpsinfo p;
    memset(&p, 0, sizeof p);
    static const char states[] = "RSDTZW";
    const char *at = strchr(states, in->state);
    p.pr_state = at && in->state ? (char)(at - states) : 0;
    p.pr_sname = in->state;
    p.pr_zomb = in->state == 'Z';
    p.pr_nice = in->nice;
    p.pr_flag = in->flags;
    p.pr_uid = in->uid;
    p.pr_gid = in->gid;
    p.pr_pid = in->pid;
    p.pr_ppid = in->ppid;
    p.pr_pgrp = in->pgrp;
    p.pr_sid = in->sid;
    if (in->fname) strncpy(p.pr_fname, in->fname, sizeof p.pr_fname);
    if (in->args) strncpy(p.pr_psargs, in->args, sizeof p.pr_psargs - 1);
    memcpy(out, &p, sizeof p);
}

/* ---- signals ---------------------------------------------------------- */

static volatile sig_atomic_t caught;
static const int trapped[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static struct sigaction saved[4], saved_pipe, saved_fsize;

static void on_signal(int sig) {
    if (!caught) caught = sig;
}

void drip_signals_trap(void) {
    caught = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++) sigaction(trapped[i], &sa, &saved[i]);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &saved_pipe);
    sigaction(SIGXFSZ, &sa, &saved_fsize);
}

int drip_signals_caught(void) { return caught; }

void drip_signals_restore(void) {
    for (int i = 0; i < 4; i++) sigaction(trapped[i], &saved[i], 0);
    sigaction(SIGPIPE, &saved_pipe, 0);
    sigaction(SIGXFSZ, &saved_fsize, 0);
}

/* ---- helper programs -------------------------------------------------- */

static int spawn(char *const argv[], int in_fd, int out_fd, int close_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (close_fd >= 0) posix_spawn_file_actions_addclose(&actions, close_fd);
    /* Its complaints would break drip's one-line errors; its exit status says enough. */
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    /* The child gets default signal actions even though we ignore SIGPIPE. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, argv[0], &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return -rc;
}

int drip_spawn_writer(char *const argv[], int out_fd, pid_t *pid) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    /* A 1 MiB pipe (the default pipe-max-size) keeps the copy loop and the
     * compressor from waking each other every 64 KiB. */
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    int rc = spawn(argv, fds[0], out_fd, fds[1], pid);
    close(fds[0]);
    if (rc < 0) {
        close(fds[1]);
        return rc;
    }
    return fds[1];
}

int drip_spawn_reader(char *const argv[], pid_t *pid) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    int rc = spawn(argv, -1, fds[1], fds[0], pid);
    close(fds[1]);
    if (rc < 0) {
        close(fds[0]);
        return rc;
    }
    return fds[0];
}

int drip_spawn(char *const argv[], int in_fd, int out_fd, pid_t *pid) {
    return spawn(argv, in_fd, out_fd, -1, pid);
}

int drip_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    return 0;
}
