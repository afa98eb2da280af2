import Foundation

/// One service `drip supervise` runs, as `supervise status`, `drip process`
/// (the router's sysmgr fields) and the state db all see it.
public struct ServiceStatus: Sendable, Codable, Equatable {
    public var name: String
    public var jid: Int64?
    public var pid: Int32?
    /// `running`, `stopping`, `stopped`, `respawning`, `held down`, `exited`.
    public var state: String
    public var respawn: Bool
    public var respawnCount: Int
    public var maxSpawnsPerMinute: Int
    public var lastStarted: Date?
    public var lastExit: String?
    public var memoryLimit: UInt64?
    /// `agent` (DRIP_LIMIT_BYTES: SIGSYS) or `rlimit` (RLIMIT_DATA).
    public var limitKind: String?
    public var dumps: Int

    public init(name: String, jid: Int64?, pid: Int32?, state: String, respawn: Bool, respawnCount: Int,
                maxSpawnsPerMinute: Int, lastStarted: Date?, lastExit: String?, memoryLimit: UInt64?, limitKind: String?,
                dumps: Int) {
        self.name = name; self.jid = jid; self.pid = pid; self.state = state; self.respawn = respawn
        self.respawnCount = respawnCount; self.maxSpawnsPerMinute = maxSpawnsPerMinute; self.lastStarted = lastStarted
        self.lastExit = lastExit; self.memoryLimit = memoryLimit; self.limitKind = limitKind; self.dumps = dumps
    }

    enum CodingKeys: String, CodingKey {
        case name, jid, pid, state, respawn, dumps
        case respawnCount = "respawn_count", maxSpawnsPerMinute = "max_spawns_per_minute", lastStarted = "last_started"
        case lastExit = "last_exit", memoryLimit = "memory_limit", limitKind = "limit_kind"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(jid, forKey: .jid); try c.encode(pid, forKey: .pid)
        try c.encode(state, forKey: .state); try c.encode(respawn, forKey: .respawn)
        try c.encode(respawnCount, forKey: .respawnCount); try c.encode(maxSpawnsPerMinute, forKey: .maxSpawnsPerMinute)
        try c.encode(lastStarted, forKey: .lastStarted); try c.encode(lastExit, forKey: .lastExit)
        try c.encode(memoryLimit, forKey: .memoryLimit); try c.encode(limitKind, forKey: .limitKind)
        try c.encode(dumps, forKey: .dumps)
    }
}

