import DripModel
import Foundation
import GRDB

/// What `drip supervise` records about one of its services, for `drip process`:
/// its status plus what ties the row to one process instance and one supervisor.
public struct SupervisedServiceRecord: Sendable, Equatable {
    public var status: ServiceStatus
    public var startTicks: UInt64?
    public var supervisorPid: Int32
    public var updatedAt: Date

    public init(status: ServiceStatus, startTicks: UInt64?, supervisorPid: Int32, updatedAt: Date = Date()) {
        self.status = status; self.startTicks = startTicks; self.supervisorPid = supervisorPid; self.updatedAt = updatedAt
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
                let s = r.status
                try statement.execute(arguments: [
                    s.name, s.jid, s.pid, r.startTicks.map { Int64(bitPattern: $0) }, s.state, s.respawn ? 1 : 0,
                    s.respawnCount, s.maxSpawnsPerMinute, s.lastStarted?.timeIntervalSince1970, s.lastExit,
                    s.memoryLimit.map { Int64(clamping: $0) }, s.limitKind, r.supervisorPid, r.updatedAt.timeIntervalSince1970,
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
            status: ServiceStatus(
                name: row["name"], jid: row["jid"], pid: row["pid"], state: row["state"],
                respawn: (row["respawn"] as Int64? ?? 0) != 0, respawnCount: row["respawn_count"],
                maxSpawnsPerMinute: row["max_spawns_per_minute"],
                lastStarted: (row["last_started"] as Double?).map { Date(timeIntervalSince1970: $0) },
                lastExit: row["last_exit"], memoryLimit: (row["memory_limit"] as Int64?).map { UInt64(clamping: $0) },
                limitKind: row["limit_kind"], dumps: 0),
            startTicks: (row["start_ticks"] as Int64?).map { UInt64(bitPattern: $0) }, supervisorPid: row["supervisor_pid"],
            updatedAt: Date(timeIntervalSince1970: row["updated_at"] as Double? ?? 0))
    }
}
