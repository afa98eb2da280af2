import Foundation

/// File names after the router's dumper (`first.snmpd_1113.by.snmpd.node0_RSP0_CPU0.ppc.Z`),
/// adapted to Linux:
///
///     <process>_<jid>.by.<requester>.<host>.<YYYYMMDD-HHMMSS>.core.zst
///     <process>_<jid>.by.<requester>.<host>.<YYYYMMDD-HHMMSS>.txt
///
/// `requester` is who asked: `drip` for `drip core` (the router's
/// `dumper_gen`). The time is UTC. Dots separate fields, so dots and anything
/// outside [A-Za-z0-9_+-] in the parts become `_`. When the stem is taken (two
/// dumps in one second), `.2`, `.3`, ... follow the timestamp.
public enum DumpName {
    public static let coreSuffix = ".core.zst"
    public static let textSuffix = ".txt"

    public static func stem(process: String, jid: Int64, requester: String, host: String, date: Date) -> String {
        "\(clean(process))_\(jid).by.\(clean(requester)).\(clean(host)).\(timestamp(date))"
    }

    public static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d%02d%02d-%02d%02d%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    static func clean(_ part: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-")
        let cleaned = String(part.map { allowed.contains($0) ? $0 : "_" })
        return cleaned.isEmpty ? "_" : cleaned
    }

    /// The short host name (up to the first dot).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.split(separator: ".").first.map(String.init) ?? name
    }
}
