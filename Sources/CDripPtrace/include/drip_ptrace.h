/* Thin C shim for ptrace, register sets and ELF core structures: what the
 * core dumper needs from headers Swift's Glibc module does not expose
 * (ptrace is variadic, the W* status macros are function-like, and the ELF
 * core note layouts live in <sys/procfs.h>).
 *
 * Every call returns 0 (or a count) on success and -errno on failure, and
 * retries EINTR where the call can be interrupted. */
#ifndef DRIP_PTRACE_H
#define DRIP_PTRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* ptrace(2) requests and options (linux/ptrace.h values, x86-64). */
enum {
    DRIP_PTRACE_O_TRACESYSGOOD = 0x01,
    DRIP_PTRACE_O_TRACEFORK = 0x02,
    DRIP_PTRACE_O_TRACECLONE = 0x08,
    DRIP_PTRACE_O_EXITKILL = 0x100000,
    DRIP_PTRACE_EVENT_FORK = 1,
    DRIP_PTRACE_EVENT_CLONE = 3,
    DRIP_PTRACE_EVENT_STOP = 128,
};

/* ELF core note types (linux/elf.h). */
enum {
    DRIP_NT_PRSTATUS = 1,
    DRIP_NT_FPREGSET = 2,
    DRIP_NT_PRPSINFO = 3,
    DRIP_NT_AUXV = 6,
    DRIP_NT_X86_XSTATE = 0x202,
    DRIP_NT_SIGINFO = 0x53494749,
    DRIP_NT_FILE = 0x46494c45,
};

/* System call numbers the injector uses (x86-64) and the kernel-internal
 * restart codes a thread interrupted inside a system call shows in rax
 * (include/linux/errno.h; they never reach user space normally). */
enum {
    DRIP_SYS_CLONE = 56,
    DRIP_SYS_WAIT4 = 61,
    DRIP_SYS_RESTART_SYSCALL = 219,
    DRIP_ERESTARTSYS = 512,
    DRIP_ERESTARTNOINTR = 513,
    DRIP_ERESTARTNOHAND = 514,
    DRIP_ERESTART_RESTARTBLOCK = 516,
    DRIP_WALL = 0x40000000,
    DRIP_WNOHANG = 1,
};

int drip_ptrace_seize(pid_t tid, unsigned long options);
int drip_ptrace_interrupt(pid_t tid);
int drip_ptrace_setoptions(pid_t tid, unsigned long options);
int drip_ptrace_detach(pid_t tid, int signal);
/* Resume until the next system call entry or exit (PTRACE_SYSCALL). */
int drip_ptrace_syscall(pid_t tid, int signal);
int drip_ptrace_getregs(pid_t tid, struct user_regs_struct *regs);
int drip_ptrace_setregs(pid_t tid, const struct user_regs_struct *regs);
int drip_ptrace_getfpregs(pid_t tid, struct user_fpregs_struct *regs);
/* PTRACE_GETREGSET: returns the bytes the kernel filled in. */
long drip_ptrace_getregset(pid_t tid, unsigned int type, void *buffer, size_t capacity);
/* PTRACE_GETSIGINFO into a 128-byte siginfo_t. */
int drip_ptrace_getsiginfo(pid_t tid, void *siginfo128);
int drip_ptrace_geteventmsg(pid_t tid, unsigned long *message);
int drip_ptrace_getsigmask(pid_t tid, uint64_t *mask);
int drip_ptrace_setsigmask(pid_t tid, uint64_t mask);

/* waitpid with __WALL, retrying EINTR; returns the pid or -errno. */
pid_t drip_wait(pid_t pid, int *status, int nohang);
int drip_status_stopped(int status);
int drip_status_stop_signal(int status);
/* The PTRACE_EVENT_* in a stop status (status >> 16), 0 for none. */
int drip_status_event(int status);
int drip_status_exited(int status);

/* The layouts the kernel writes in cores (struct elf_prstatus / elf_prpsinfo
 * from <sys/procfs.h>), filled from plain values. */
typedef struct {
    int32_t pid, ppid, pgrp, sid;
    int32_t signo, code, error;
    int16_t cursig;
    uint64_t sigpend, sighold;
    int64_t utime_us, stime_us;
} drip_prstatus_info;

typedef struct {
    char state;     /* one-letter state: R, S, D, T, ... */
    int8_t nice;
    uint64_t flags;
    uint32_t uid, gid;
    int32_t pid, ppid, pgrp, sid;
    const char *fname; /* comm, at most 16 bytes used */
    const char *args;  /* command line, spaces between, at most 80 bytes used */
} drip_prpsinfo_info;

size_t drip_prstatus_size(void);
size_t drip_prpsinfo_size(void);
void drip_prstatus_fill(void *out, const drip_prstatus_info *info, const struct user_regs_struct *regs);
void drip_prpsinfo_fill(void *out, const drip_prpsinfo_info *info);

/* Catches SIGINT, SIGTERM, SIGHUP and SIGQUIT in a flag (and ignores SIGPIPE
 * and SIGXFSZ so that a failed write is an error, not a death) while a dump
 * holds a process; `drip_signals_restore` puts the old actions back. */
void drip_signals_trap(void);
/* The first termination signal caught since the trap, or 0. */
int drip_signals_caught(void);
void drip_signals_restore(void);

/* Starts `argv[0]` (a path) with stdin = a new pipe and stdout = out_fd;
 * returns the pipe's write end (or -errno) and the child's pid in *pid. */
int drip_spawn_writer(char *const argv[], int out_fd, pid_t *pid);
/* Starts `argv[0]` with stdout = a new pipe; returns its read end or -errno. */
int drip_spawn_reader(char *const argv[], pid_t *pid);
/* Starts `argv[0]` (a path) with the given stdin and stdout (-1: inherit) and
 * stderr on /dev/null; returns 0 or -errno. */
int drip_spawn(char *const argv[], int in_fd, int out_fd, pid_t *pid);
/* pipe2(O_CLOEXEC), the write end enlarged to 1 MiB; 0 or -errno. */
int drip_pipe(int fds[2]);

#endif
