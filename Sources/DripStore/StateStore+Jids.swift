import DripModel
import Foundation
import GRDB

/// A process's place in the JID registry.
public struct JidAssignment: Sendable, Equatable, Codable {
    public var jid: Jid
    /// 1 for the first running copy of a service, 2 for a second copy running at the same time, ...
    public var instance: Int
    public init(jid: Jid, instance: Int) { self.jid = jid; self.instance = instance }
}

/// What the registry needs to know of one live process.
public struct JidRequest: Sendable {
    public var instance: ProcessInstance
    public var key: ServiceKey
    public var name: String
    public init(instance: ProcessInstance, key: ServiceKey, name: String) {
        self.instance = instance; self.key = key; self.name = name
    }
}

extension StateStore {
    /// Gives every live process its JID. `processes` must be every process on the
    /// machine: a registered process absent from it is taken to have exited, and
    /// its instance number becomes free for the service's next start (a restart).
    public func assignJids(bootID: String, processes: [JidRequest]) throws -> [ProcessInstance: JidAssignment] {
        try write { db in
            let now = Date().timeIntervalSince1970
            // Processes of another boot are gone whatever their pid says.
            try db.execute(sql: "DELETE FROM live_process WHERE boot_id != ?", arguments: [bootID])

            var known: [ProcessInstance: Jid] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT pid, start_ticks, jid FROM live_process")
            while let row = try rows.next() {
                known[ProcessInstance(pid: row[0], startTicks: UInt64(bitPattern: row[1] as Int64))] = Jid(row[2])
            }
            let alive = Set(processes.map(\.instance))
            let gone = known.keys.filter { !alive.contains($0) }
            if !gone.isEmpty {
                let delete = try db.cachedStatement(sql: "DELETE FROM live_process WHERE pid = ? AND start_ticks = ?")
                for instance in gone {
                    try delete.execute(arguments: [instance.pid, Int64(bitPattern: instance.startTicks)])
                    known[instance] = nil
                }
            }

            var result: [ProcessInstance: JidAssignment] = [:]
            let newcomers = processes.filter { known[$0.instance] == nil }
                .sorted { ($0.instance.startTicks, $0.instance.pid) < ($1.instance.startTicks, $1.instance.pid) }
            let heldJids = Set(known.values)

            // Instance numbers of every service the known processes hold.
            var instanceOfJid: [Jid: Int] = [:]
            if !known.isEmpty {
                let cursor = try Row.fetchCursor(db, sql: "SELECT jid, instance FROM service WHERE jid IN (SELECT jid FROM live_process)")
                while let row = try cursor.next() { instanceOfJid[Jid(row[0])] = row[1] }
            }
            for p in processes {
                if let jid = known[p.instance] { result[p.instance] = JidAssignment(jid: jid, instance: instanceOfJid[jid] ?? 1) }
            }
            guard !newcomers.isEmpty else { return result }

            let servicesOfKey = try db.cachedStatement(sql: "SELECT jid, instance FROM service WHERE key = ?")
            let insertService = try db.cachedStatement(
                sql: "INSERT INTO service (key, instance, name, created_at) VALUES (?, ?, ?, ?)")
            let insertLive = try db.cachedStatement(
                sql: "INSERT INTO live_process (boot_id, pid, start_ticks, jid, first_seen) VALUES (?, ?, ?, ?, ?)")
            var held = heldJids
            for p in newcomers {
                var byInstance: [Int: Jid] = [:]
                let cursor = try Row.fetchCursor(servicesOfKey, arguments: [p.key.value])
                while let row = try cursor.next() { byInstance[row[1]] = Jid(row[0]) }
                var number = 1
                while let jid = byInstance[number], held.contains(jid) { number += 1 }
                let jid: Jid
                if let existing = byInstance[number] {
                    jid = existing
                } else {
                    try insertService.execute(arguments: [p.key.value, number, p.name, now])
                    jid = Jid(db.lastInsertedRowID)
                }
                held.insert(jid)
                try insertLive.execute(arguments: [bootID, p.instance.pid, Int64(bitPattern: p.instance.startTicks),
                                                   jid.value, now])
                result[p.instance] = JidAssignment(jid: jid, instance: number)
            }
            return result
        }
    }
}
