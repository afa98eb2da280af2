/// Why a /proc read failed, in words a user can act on.
public enum ProcError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The process does not exist (or exited while being read).
    case noSuchProcess(pid: Int32)
    case permissionDenied(path: String)
    /// The file was read but its content is not what the kernel writes.
    case malformed(path: String, reason: String)
    case io(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .noSuchProcess(let pid): return "no process with pid \(pid)"
        case .permissionDenied(let path): return "permission denied reading \(path) (run as root or as the process's owner)"
        case .malformed(let path, let reason): return "malformed \(path): \(reason)"
        case .io(let path, let errno): return "cannot read \(path): \(String(cString: strerror(errno)))"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
