import DripModel

/// `drip compare report`.
public enum CompareView {
    public static func table(_ rows: [CompareReportRow], sizes: SizeStyle) -> String {
        var table = Table([.init("JID"), .init("name", .left), .init("mem before"), .init("mem after"),
                           .init("difference"), .init("mallocs"), .init("restart/exit/new", .left)])
        for r in rows {
            table.append([r.jid.description, r.name, sizes.format(r.before), sizes.format(r.after),
                          sizes.format(signed: r.difference), r.mallocs.map(String.init) ?? "-", r.flag.rawValue])
        }
        return table.render()
    }

    public static func json(_ rows: [CompareReportRow], start: CompareSnapshot, end: CompareSnapshot) throws -> String {
        struct Row: Encodable {
            var jid: Int64, pid: Int32, name: String, before: UInt64, after: UInt64, difference: Int64
            var mallocs: Int64?, flag: String
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(jid, forKey: .jid); try c.encode(pid, forKey: .pid); try c.encode(name, forKey: .name)
                try c.encode(before, forKey: .before); try c.encode(after, forKey: .after)
                try c.encode(difference, forKey: .difference); try c.encode(mallocs, forKey: .mallocs)
                try c.encode(flag, forKey: .flag)
            }
            enum Keys: String, CodingKey { case jid, pid, name, before, after, difference, mallocs, flag }
        }
        struct Report: Encodable { var start: Date; var end: Date; var processes: [Row] }
        return try JSONOutput.render(Report(start: start.takenAt, end: end.takenAt, processes: rows.map {
            Row(jid: $0.jid.value, pid: $0.pid, name: $0.name, before: $0.before, after: $0.after,
                difference: $0.difference, mallocs: $0.mallocs, flag: $0.flag.rawValue)
        }))
    }
}

import Foundation
