import DripModel
import Foundation
import GRDB

/// What `drip supervise` records about one of its services, for `drip process`.
public struct SupervisedServiceRecord: Sendable, Equatable, Codable {
    public var name: String
    public var jid: Jid?
    public var pid: Int32?
    public var startTicks: UInt64?
    /// `running`, `stopped`, `held down`, `exited`, `starting`, `stopping`.
    public var state: String
    public var respawn: Bool
    /// Times the supervisor started it again after it ended on its own.
    public var respawnCount: Int
    public var maxSpawnsPerMinute: Int
    public var lastStarted: Date?
    /// `signal 31 (SIGSYS)`, `exit 1`, ...
    public var lastExit: String?
    public var memoryLimit: UInt64?
    /// `agent` (DRIP_LIMIT_BYTES, SIGSYS) or `rlimit` (RLIMIT_DATA).
    public var limitKind: String?
    public var supervisorPid: Int32
    public var updatedAt: Date

    public init(name: String, jid: Jid?, pid: Int32?, startTicks: UInt64?, state: String, respawn: Bool, respawnCount: Int,
                maxSpawnsPerMinute: Int, lastStarted: Date?, lastExit: String?, memoryLimit: UInt64?, limitKind: String?,
                supervisorPid: Int32, updatedAt: Date = Date()) {
        self.name = name; self.jid = jid; self.pid = pid; self.startTicks = startTicks; self.state = state
        self.respawn = respawn; self.respawnCount = respawnCount; self.maxSpawnsPerMinute = maxSpawnsPerMinute
        self.lastStarted = lastStarted; self.lastExit = lastExit; self.memoryLimit = memoryLimit; self.limitKind = limitKind
        self.supervisorPid = supervisorPid; self.updatedAt = updatedAt
    }
}

extension StateStore {
    /// Writes (inserts or replaces) the rows of the given services, in one transaction.
    public func saveSupervisedServices(_ records: [SupervisedServiceRecord]) throws {
        try write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO supervised_service (name, jid, pid, start_ticks, state, respawn, respawn_count,
                    max_spawns_per_minute, last_started, last_exit, memory_limit, limit_kind, supervisor_pid, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for r in records {
                try statement.execute(arguments: [
                    r.name, r.jid?.value, r.pid, r.startTicks.map { Int64(bitPattern: $0) }, r.state, r.respawn ? 1 : 0,
                    r.respawnCount, r.maxSpawnsPerMinute, r.lastStarted?.timeIntervalSince1970, r.lastExit,
                    r.memoryLimit.map { Int64(clamping: $0) }, r.limitKind, r.supervisorPid, r.updatedAt.timeIntervalSince1970,
                ])
            }
        }
    }

    /// Forgets services a supervisor no longer runs (those not in `keeping`).
    public func removeSupervisedServices(except keeping: [String]) throws {
        try write { db in
            if keeping.isEmpty {
                try db.execute(sql: "DELETE FROM supervised_service")
            } else {
                let marks = Array(repeating: "?", count: keeping.count).joined(separator: ", ")
                try db.execute(sql: "DELETE FROM supervised_service WHERE name NOT IN (\(marks))",
                               arguments: StatementArguments(keeping))
            }
        }
    }

    public func supervisedServices() throws -> [SupervisedServiceRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM supervised_service ORDER BY name").map(Self.record) }
    }

    /// The supervised service that owns a JID, if a supervisor runs (or ran) it.
    public func supervisedService(jid: Jid) throws -> SupervisedServiceRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM supervised_service WHERE jid = ? ORDER BY updated_at DESC LIMIT 1",
                             arguments: [jid.value]).map(Self.record)
        }
    }

    static func record(_ row: Row) -> SupervisedServiceRecord {
        SupervisedServiceRecord(
            name: row["name"], jid: (row["jid"] as Int64?).map(Jid.init), pid: row["pid"],
            startTicks: (row["start_ticks"] as Int64?).map { UInt64(bitPattern: $0) }, state: row["state"],
            respawn: (row["respawn"] as Int64? ?? 0) != 0, respawnCount: row["respawn_count"],
            maxSpawnsPerMinute: row["max_spawns_per_minute"],
            lastStarted: (row["last_started"] as Double?).map { Date(timeIntervalSince1970: $0) },
            lastExit: row["last_exit"], memoryLimit: (row["memory_limit"] as Int64?).map { UInt64(clamping: $0) },
            limitKind: row["limit_kind"], supervisorPid: row["supervisor_pid"],
            updatedAt: Date(timeIntervalSince1970: row["updated_at"] as Double? ?? 0))
    }
}
