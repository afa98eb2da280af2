#if canImport(Glibc)
import Glibc
#endif

/// Why a core dump failed, in words a user can act on. Whatever failed, the
/// target was resumed and untraced, and no forked image was left behind.
public enum CoreDumpError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchProcess(pid: Int32)
    /// ptrace or /proc/PID/mem was refused (not root, other owner, Yama, a dumpable=0 process).
    case permissionDenied(pid: Int32, what: String)
    case alreadyTraced(pid: Int32, tracer: Int32)
    /// A ptrace request failed for another reason.
    case ptrace(request: String, tid: Int32, errno: Int32)
    /// A thread did not reach a ptrace stop in time (uninterruptible sleep, D state).
    case threadDidNotStop(tid: Int32)
    /// The dump directory or a dump file could not be created or written (disk full, read-only, ...).
    case output(path: String, errno: Int32)
    /// The compressor failed (missing binary, exited non-zero).
    case compressor(String)
    /// SIGINT/SIGTERM/SIGHUP/SIGQUIT arrived mid-dump; everything was undone first.
    case interrupted(signal: Int32)

    public var description: String {
        switch self {
        case .noSuchProcess(let pid): return "no process with pid \(pid)"
        case .permissionDenied(let pid, let what):
            return "permission denied: \(what) of pid \(pid) (run as root or as the process's owner; check kernel.yama.ptrace_scope)"
        case .alreadyTraced(let pid, let tracer):
            return "ptrace refused: pid \(pid) is already traced by pid \(tracer) (a debugger or strace); detach it first"
        case .ptrace(let request, let tid, let e):
            return "ptrace \(request) of thread \(tid) failed: \(String(cString: strerror(e)))"
        case .threadDidNotStop(let tid):
            return "thread \(tid) did not stop within 10 s (uninterruptible sleep?); the process was left running"
        case .output(let path, let e):
            return "cannot write \(path): \(String(cString: strerror(e)))"
        case .compressor(let why): return "compressor failed: \(why)"
        case .interrupted(let signal):
            return "interrupted by signal \(signal); the process was resumed and the partial dump removed"
        }
    }
}
