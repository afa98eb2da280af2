import DripModel

/// The fields drip uses from /proc/PID/stat (see proc(5) for numbering).
public struct ProcStat: Sendable, Equatable {
    public var pid: Int32
    public var comm: String
    public var state: String
    public var parentPid: Int32
    /// Field 9: PF_* flags; PF_KTHREAD marks kernel threads.
    public var flags: UInt64
    public var threads: Int
    /// Field 22: start time in clock ticks after boot. With the pid it names one process instance.
    public var startTicks: UInt64
    public var virtualSize: UInt64

    static let kernelThreadFlag: UInt64 = 0x0020_0000
    public var isKernelThread: Bool { flags & Self.kernelThreadFlag != 0 }
}

public enum StatParser {
    public static func parse(_ text: [UInt8], path: String = "stat") throws -> ProcStat {
        try text.withUnsafeBufferPointer { buf in
            func bad(_ why: String) -> ProcError { .malformed(path: path, reason: why) }
            guard let open = buf.firstIndex(of: 0x28), let close = buf.lastIndex(of: 0x29), open < close else {
                throw bad("no (comm) field")
            }
            var s = ByteScanner(buf)
            guard let pid = s.decimal(), pid <= UInt64(Int32.max) else { throw bad("bad pid") }
            let comm = String(procBytes: UnsafeBufferPointer(rebasing: buf[(open + 1)..<close]))
            s.index = close + 1
            // Fields after comm start at number 3.
            var fields: [UnsafeBufferPointer<UInt8>] = []
            fields.reserveCapacity(24)
            while fields.count < 22 {
                s.skipSpaces()
                if s.atEnd || s.peek == 0x0A { break }
                fields.append(s.word())
            }
            guard fields.count >= 21 else { throw bad("truncated: \(fields.count + 2) fields") }
            func number(_ field: Int) throws -> UInt64 {
                var f = ByteScanner(fields[field - 3])
                guard let v = f.decimal(), f.atEnd else { throw bad("field \(field) is not a number") }
                return v
            }
            func signed(_ field: Int) throws -> Int64 {
                var f = ByteScanner(fields[field - 3])
                guard let v = f.signedDecimal(), f.atEnd else { throw bad("field \(field) is not a number") }
                return v
            }
            let ppid = try signed(4)
            return ProcStat(pid: Int32(pid), comm: comm, state: String(procBytes: fields[0]),
                            parentPid: Int32(truncatingIfNeeded: ppid), flags: try number(9),
                            threads: Int(try signed(20)), startTicks: try number(22),
                            virtualSize: try number(23))
        }
    }
}

/// `Key:  value` files: /proc/PID/status, /proc/meminfo.
public enum KeyValueParser {
    /// Values as the raw text after the colon, trimmed.
    public static func parse(_ text: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        text.withUnsafeBufferPointer { buf in
            var s = ByteScanner(buf)
            while !s.atEnd {
                let key = MapsParser.fieldName(&s)
                s.skipSpaces()
                let value = String(procBytes: s.restOfLine())
                if !key.isEmpty { result[key] = value }
            }
        }
        return result
    }

    /// A `NNN kB` value in bytes.
    public static func kilobytes(_ value: String?) -> UInt64? {
        guard let value, let number = value.split(separator: " ").first, let kb = UInt64(number) else { return nil }
        return kb * 1024
    }
}

/// /proc/PID/limits: the soft RLIMIT_DATA ("Max data size").
public enum LimitsParser {
    /// nil = unlimited.
    public static func dataLimit(_ text: [UInt8], path: String = "limits") throws -> UInt64? {
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        guard let line = lines.first(where: { $0.hasPrefix("Max data size") }) else {
            throw ProcError.malformed(path: path, reason: "no 'Max data size' line")
        }
        let soft = line.dropFirst("Max data size".count).split(separator: " ").first ?? ""
        if soft == "unlimited" { return nil }
        guard let value = UInt64(soft) else { throw ProcError.malformed(path: path, reason: "bad data limit '\(soft)'") }
        return value
    }
}

/// /proc/PID/cgroup: the v2 line `0::/path`, or the systemd v1 hierarchy.
public enum CgroupParser {
    public static func path(_ text: [UInt8]) -> String? {
        var v1: String?
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("0::") { return String(line.dropFirst(3)) }
            if line.contains(":name=systemd:") { v1 = line.split(separator: ":", maxSplits: 2).last.map(String.init) }
        }
        return v1
    }
}

/// /proc/PID/statm: `size resident shared text lib data dt`, in pages.
public enum StatmParser {
    public static func fingerprint(_ text: [UInt8], threads: Int, path: String = "statm") throws -> MappingFingerprint {
        var fields: [UInt64] = []
        fields.reserveCapacity(7)
        try text.withUnsafeBufferPointer { buf in
            var s = ByteScanner(buf)
            while fields.count < 7 {
                s.skipSpaces()
                guard let v = s.decimal() else { throw ProcError.malformed(path: path, reason: "expected 7 numbers") }
                fields.append(v)
            }
        }
        return MappingFingerprint(size: fields[0], text: fields[3], data: fields[5], threads: threads)
    }
}
