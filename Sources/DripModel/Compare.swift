import Foundation

/// One process in a `drip compare` snapshot.
public struct CompareRow: Sendable, Equatable, Codable {
    public var jid: Jid
    public var instance: ProcessInstance
    public var name: String
    /// Dynamic bytes (the `drip ps` column).
    public var dynamic: UInt64
    /// The agent's malloc call count, where the process runs the agent.
    public var mallocs: UInt64?

    public init(jid: Jid, instance: ProcessInstance, name: String, dynamic: UInt64, mallocs: UInt64?) {
        self.jid = jid; self.instance = instance; self.name = name; self.dynamic = dynamic; self.mallocs = mallocs
    }
}

public struct CompareSnapshot: Sendable, Codable {
    public var name: String
    public var takenAt: Date
    public var bootID: String
    public var host: String
    public var rows: [CompareRow]

    public init(name: String, takenAt: Date, bootID: String, host: String, rows: [CompareRow]) {
        self.name = name; self.takenAt = takenAt; self.bootID = bootID; self.host = host; self.rows = rows
    }
}


/// One row of `drip compare report`.
public struct CompareReportRow: Sendable, Equatable, Codable {
    public enum Flag: String, Sendable, Codable {
        case none = ""
        /// Same JID, another process instance: the service restarted between the snapshots.
        case restart
        case exit
        case new
    }
    public var jid: Jid
    /// The pid in the end snapshot (the start one for an exited process).
    public var pid: Int32
    public var name: String
    public var before: UInt64
    public var after: UInt64
    public var difference: Int64 { Int64(clamping: after) - Int64(clamping: before) }
    /// Change in malloc calls; nil where either side had no agent.
    public var mallocs: Int64?
    public var flag: Flag
}

public enum CompareReport {
    /// Rows for every JID in either snapshot, largest growth first. An exited
    /// process has after = 0; a new one before = 0.
    public static func make(start: CompareSnapshot, end: CompareSnapshot) -> [CompareReportRow] {
        let before = Dictionary(start.rows.map { ($0.jid, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(end.rows.map { ($0.jid, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [CompareReportRow] = []
        for (jid, b) in before {
            if let a = after[jid] {
                let restarted = a.instance != b.instance || start.bootID != end.bootID
                let mallocs: Int64? = restarted ? nil : zip2(b.mallocs, a.mallocs).map { Int64(clamping: $1) - Int64(clamping: $0) }
                rows.append(CompareReportRow(jid: jid, pid: a.instance.pid, name: a.name, before: b.dynamic, after: a.dynamic,
                                             mallocs: restarted ? a.mallocs.map { Int64(clamping: $0) } : mallocs,
                                             flag: restarted ? .restart : .none))
            } else {
                rows.append(CompareReportRow(jid: jid, pid: b.instance.pid, name: b.name, before: b.dynamic, after: 0,
                                             mallocs: nil, flag: .exit))
            }
        }
        for (jid, a) in after where before[jid] == nil {
            rows.append(CompareReportRow(jid: jid, pid: a.instance.pid, name: a.name, before: 0, after: a.dynamic,
                                         mallocs: a.mallocs.map { Int64(clamping: $0) }, flag: .new))
        }
        return rows.sorted { ($0.difference, $1.jid) > ($1.difference, $0.jid) }
    }

    private static func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
        guard let a, let b else { return nil }
        return (a, b)
    }
}
