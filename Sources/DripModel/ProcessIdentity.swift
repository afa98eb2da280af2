/// One process instance: a PID is only a name for it while `startTicks` matches,
/// because the kernel reuses PIDs.
public struct ProcessInstance: Sendable, Hashable, Codable {
    public var pid: Int32
    /// /proc/PID/stat field 22: clock ticks after boot when the process started.
    public var startTicks: UInt64

    public init(pid: Int32, startTicks: UInt64) {
        self.pid = pid; self.startTicks = startTicks
    }
}

/// What makes two processes "the same service" across restarts; the JID rule
/// (docs/JID.md): the cgroup when it names a service unit, else the executable
/// plus its arguments.
public struct ServiceKey: Sendable, Hashable, Codable, CustomStringConvertible {
    public var value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// A job id: stable per service, kept in the state store.
public struct Jid: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
    public static func < (a: Jid, b: Jid) -> Bool { a.value < b.value }
    public var description: String { String(value) }
}
