import DripModel
import Foundation
import GRDB

extension StateStore {
    /// Replaces snapshot `name` (start or end) in one transaction.
    public func saveCompareSnapshot(_ snapshot: CompareSnapshot) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM compare_row WHERE snapshot = ?", arguments: [snapshot.name])
            try db.execute(sql: "DELETE FROM compare_snapshot WHERE name = ?", arguments: [snapshot.name])
            try db.execute(sql: "INSERT INTO compare_snapshot (name, taken_at, boot_id, host) VALUES (?, ?, ?, ?)",
                           arguments: [snapshot.name, snapshot.takenAt.timeIntervalSince1970, snapshot.bootID, snapshot.host])
            let insert = try db.cachedStatement(sql: """
                INSERT INTO compare_row (snapshot, jid, pid, start_ticks, name, dynamic, mallocs)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for row in snapshot.rows {
                try insert.execute(arguments: [snapshot.name, row.jid.value, row.instance.pid,
                                               Int64(bitPattern: row.instance.startTicks), row.name,
                                               Int64(clamping: row.dynamic), row.mallocs.map { Int64(clamping: $0) }])
            }
        }
    }

    public func compareSnapshot(named name: String) throws -> CompareSnapshot? {
        try read { db in
            guard let head = try Row.fetchOne(db, sql: "SELECT taken_at, boot_id, host FROM compare_snapshot WHERE name = ?",
                                              arguments: [name]) else { return nil }
            let rows = try Row.fetchAll(db, sql: """
                SELECT jid, pid, start_ticks, name, dynamic, mallocs FROM compare_row WHERE snapshot = ? ORDER BY jid
                """, arguments: [name]).map { r in
                CompareRow(jid: Jid(r[0]), instance: ProcessInstance(pid: r[1], startTicks: UInt64(bitPattern: r[2] as Int64)),
                           name: r[3], dynamic: UInt64(clamping: r[4] as Int64),
                           mallocs: (r[5] as Int64?).map { UInt64(clamping: $0) })
            }
            return CompareSnapshot(name: name, takenAt: Date(timeIntervalSince1970: head[0]), bootID: head[1],
                                   host: head[2], rows: rows)
        }
    }
}
