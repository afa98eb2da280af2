import DripModel
import Foundation
import GRDB

extension StateStore {
    /// Stores a heap snapshot; returns its id.
    public func saveHeapSnapshot(_ snapshot: HeapSnapshot) throws -> Int64 {
        let body = try HeapSnapshotCodec.encode(snapshot)
        return try write { db in
            try db.execute(sql: "INSERT INTO heap_snapshot (jid, pid, taken_at, body) VALUES (?, ?, ?, ?)",
                           arguments: [snapshot.jid, snapshot.pid, snapshot.takenAt.timeIntervalSince1970, body])
            return db.lastInsertedRowID
        }
    }

    public func heapSnapshot(id: Int64) throws -> HeapSnapshot? {
        try read { db in try Data.fetchOne(db, sql: "SELECT body FROM heap_snapshot WHERE id = ?", arguments: [id]) }
            .map(HeapSnapshotCodec.decode)
    }

    /// The newest snapshot of a JID.
    public func lastHeapSnapshot(jid: Jid) throws -> (id: Int64, snapshot: HeapSnapshot)? {
        guard let row = try read({ db in
            try Row.fetchOne(db, sql: "SELECT id, body FROM heap_snapshot WHERE jid = ? ORDER BY id DESC LIMIT 1",
                             arguments: [jid.value])
        }) else { return nil }
        return (row[0], try HeapSnapshotCodec.decode(row[1]))
    }
}

/// The one serialization of heap snapshots, for the state db and for `-o FILE`.
public enum HeapSnapshotCodec {
    public static func encode(_ snapshot: HeapSnapshot) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(snapshot)
    }

    public static func decode(_ data: Data) throws -> HeapSnapshot {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(HeapSnapshot.self, from: data)
    }
}
