/// Why the state store could not be used; each names the path and the cause.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case unwritableDirectory(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case failed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unwritableDirectory(let path, let reason):
            return "state dir \(path) is not writable: \(reason) (set DRIP_STATE_DIR to a writable directory)"
        case .corrupt(let path, let reason):
            return "state db \(path) is corrupt or not a drip database: \(reason) (move it aside; drip will start a new one)"
        case .failed(let path, let reason):
            return "state db \(path): \(reason)"
        }
    }
}
