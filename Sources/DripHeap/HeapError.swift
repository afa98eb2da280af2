/// Why the agent's tables could not be read.
public enum HeapError: Error, Sendable, Equatable, CustomStringConvertible {
    case noAgent(pid: Int32)
    case agentNotReady(pid: Int32)
    case incompatibleAgent(pid: Int32, reason: String)
    case permissionDenied(pid: Int32)
    case processGone(pid: Int32)
    case unreadable(pid: Int32, what: String, errno: Int32)

    public var description: String {
        switch self {
        case .noAgent(let pid):
            return "pid \(pid) does not run drip's heap agent (start it with 'drip run', or LD_PRELOAD=libdrip-agent.so)"
        case .agentNotReady(let pid): return "the heap agent in pid \(pid) has not finished starting"
        case .incompatibleAgent(let pid, let reason): return "the heap agent in pid \(pid) is incompatible: \(reason)"
        case .permissionDenied(let pid):
            return "permission denied reading the memory of pid \(pid) (run as root or as its owner)"
        case .processGone(let pid): return "pid \(pid) exited while drip read its heap"
        case .unreadable(let pid, let what, let errno):
            return "cannot read \(what) of pid \(pid): \(String(cString: strerror(errno)))"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
