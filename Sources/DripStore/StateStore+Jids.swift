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
    public var description: ProcessDescription
    public var key: ServiceKey { description.serviceKey }
    public init(instance: ProcessInstance, description: ProcessDescription) {
        self.instance = instance; self.description = description
    }
}

/// A live process the registry has seen before.
public struct KnownProcess: Sendable {
    public var assignment: JidAssignment
    public var description: ProcessDescription
    /// What drip measured last time, if anything.
    public var usage: MeasuredUsage?
}

extension StateStore {
    /// How long a service that no longer runs keeps its JID: 30 days. If it
    /// starts again later it gets a new JID (JIDs are never reused).
    public static let serviceRetention: TimeInterval = 30 * 24 * 3600

    /// The processes of this boot that the registry already knows, with the
    /// description stored when each was first seen.
    public func knownProcesses(bootID: String) throws -> [ProcessInstance: KnownProcess] {
        try read { db in
            var result: [ProcessInstance: KnownProcess] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT l.pid, l.start_ticks, l.jid, s.instance, l.name, l.executable, l.command_line, l.cgroup, l.uid,
                       l.fp_size, l.fp_text, l.fp_data, l.fp_threads,
                       l.m_text, l.m_data, l.m_stack, l.m_dynamic, l.m_shared, l.m_virtual, l.m_agent, l.job_name
                FROM live_process l JOIN service s ON s.jid = l.jid WHERE l.boot_id = ?
                """, arguments: [bootID])
            while let row = try rows.next() {
                let commandLine: Data = row[6]
                let description = ProcessDescription(
                    name: row[4], executable: row[5],
                    commandLine: commandLine.isEmpty ? [] : commandLine.split(separator: 0, omittingEmptySubsequences: false)
                        .map { String(decoding: $0, as: UTF8.self) },
                    cgroup: row[7], uid: UInt32(truncatingIfNeeded: row[8] as Int64), jobName: row[20])
                var usage: MeasuredUsage?
                if let size = row[9] as Int64? {
                    func u(_ i: Int) -> UInt64 { UInt64(clamping: row[i] as Int64? ?? 0) }
                    var memory = MemoryTotals()
                    memory.text = u(13); memory.data = u(14); memory.stack = u(15); memory.dynamic = u(16)
                    memory.shared = u(17); memory.virtualSize = u(18)
                    usage = MeasuredUsage(
                        fingerprint: MappingFingerprint(size: UInt64(clamping: size), text: u(10), data: u(11),
                                                        threads: Int(row[12] as Int64? ?? 0)),
                        memory: memory, runsHeapAgent: (row[19] as Int64? ?? 0) != 0)
                }
                result[ProcessInstance(pid: row[0], startTicks: UInt64(bitPattern: row[1] as Int64))] =
                    KnownProcess(assignment: JidAssignment(jid: Jid(row[2]), instance: row[3]), description: description,
                                 usage: usage)
            }
            return result
        }
    }

    /// Gives every live process its JID. `processes` must be every process on the
    /// machine: a registered process absent from it is taken to have exited, and
    /// its instance number becomes free for the service's next start (a restart).
    /// `measured` holds usage drip measured afresh, kept for the next run.
    public func assignJids(bootID: String, processes: [JidRequest],
                           measured: [ProcessInstance: MeasuredUsage] = [:]) throws -> [ProcessInstance: JidAssignment] {
        try write { db in
            let result = try assign(db, bootID: bootID, processes: processes)
            let update = try db.cachedStatement(sql: """
                UPDATE live_process SET fp_size = ?, fp_text = ?, fp_data = ?, fp_threads = ?, m_text = ?, m_data = ?,
                    m_stack = ?, m_dynamic = ?, m_shared = ?, m_virtual = ?, m_agent = ?
                WHERE boot_id = ? AND pid = ? AND start_ticks = ?
                """)
            for (instance, u) in measured {
                let f = u.fingerprint, m = u.memory
                try update.execute(arguments: [
                    Int64(clamping: f.size), Int64(clamping: f.text), Int64(clamping: f.data), f.threads,
                    Int64(clamping: m.text), Int64(clamping: m.data), Int64(clamping: m.stack), Int64(clamping: m.dynamic),
                    Int64(clamping: m.shared), Int64(clamping: m.virtualSize), u.runsHeapAgent ? 1 : 0,
                    bootID, instance.pid, Int64(bitPattern: instance.startTicks),
                ])
            }
            return result
        }
    }

    private func assign(_ db: Database, bootID: String, processes: [JidRequest]) throws -> [ProcessInstance: JidAssignment] {
        do {
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
                let ended = try db.cachedStatement(sql: "UPDATE service SET last_seen = ? WHERE jid = ?")
                for instance in gone {
                    try delete.execute(arguments: [instance.pid, Int64(bitPattern: instance.startTicks)])
                    if let jid = known[instance] { try ended.execute(arguments: [now, jid.value]) }
                    known[instance] = nil
                }
                // Every short-lived command line is a service of its own; without
                // this the registry would grow for ever on a busy machine.
                try db.execute(sql: """
                    DELETE FROM service WHERE last_seen < ? AND jid NOT IN (SELECT jid FROM live_process)
                    """, arguments: [now - Self.serviceRetention])
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
                sql: """
                    INSERT INTO live_process (boot_id, pid, start_ticks, jid, first_seen, name, executable, command_line, cgroup, uid,
                                              job_name)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
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
                    try insertService.execute(arguments: [p.key.value, number, p.description.name, now])
                    jid = Jid(db.lastInsertedRowID)
                }
                held.insert(jid)
                let d = p.description
                try insertLive.execute(arguments: [bootID, p.instance.pid, Int64(bitPattern: p.instance.startTicks),
                                                   jid.value, now, d.name, d.executable, Data(d.commandLine.joined(separator: "\0").utf8),
                                                   d.cgroup, Int64(d.uid), d.jobName])
                result[p.instance] = JidAssignment(jid: jid, instance: number)
            }
            return result
        }
    }
}
