import DripModel

/// Parses /proc/PID/maps and /proc/PID/smaps. Pure: bytes in, regions out.
public enum MapsParser {
    /// Parses maps (or smaps: the per-mapping detail lines are read into `usage`).
    public static func parse(_ text: [UInt8], path: String = "maps") throws -> [Region] {
        try text.withUnsafeBufferPointer { try parse($0, path: path) }
    }

    public static func parse(_ text: UnsafeBufferPointer<UInt8>, path: String = "maps") throws -> [Region] {
        var regions: [Region] = []
        var s = ByteScanner(text)
        while !s.atEnd {
            // smaps detail lines start with a capital letter field name; mapping lines with a hex digit.
            if let c = s.peek, c >= 0x41 && c <= 0x5A, !regions.isEmpty, isSmapsField(s) {
                try parseUsageLine(&s, into: &regions[regions.count - 1], path: path)
                continue
            }
            if s.peek == 0x0A { s.index += 1; continue }
            regions.append(try parseMappingLine(&s, path: path))
        }
        return regions
    }

    /// A mapping line starts `start-end `; an smaps field starts `Name:`.
    private static func isSmapsField(_ s: ByteScanner) -> Bool {
        var i = s.index
        while i < s.bytes.count {
            let c = s.bytes[i]
            if c == 0x3A { return true }
            if c == 0x2D || c == 0x20 || c == 0x0A { return false }
            i += 1
        }
        return false
    }

    private static func parseMappingLine(_ s: inout ByteScanner, path: String) throws -> Region {
        let lineStart = s.index
        func bad(_ why: String) -> ProcError {
            var e = s
            e.index = lineStart
            let line = String(procBytes: e.restOfLine())
            return .malformed(path: path, reason: "\(why) in line '\(line.prefix(120))'")
        }
        guard let start = s.hex(), s.consume(0x2D), let end = s.hex(), end >= start else { throw bad("bad address range") }
        s.skipSpaces()
        let perms = s.word()
        guard perms.count == 4 else { throw bad("bad permissions") }
        let permissions = Region.Permissions(read: perms[0] == 0x72, write: perms[1] == 0x77,
                                             execute: perms[2] == 0x78, shared: perms[3] == 0x73)
        s.skipSpaces()
        guard let offset = s.hex() else { throw bad("bad offset") }
        s.skipSpaces()
        _ = s.word() // device major:minor
        s.skipSpaces()
        guard let inode = s.decimal() else { throw bad("bad inode") }
        s.skipSpaces()
        let name = s.restOfLine()
        return Region(start: start, end: end, permissions: permissions, offset: offset, inode: inode,
                      path: String(procBytes: name))
    }

    private static func parseUsageLine(_ s: inout ByteScanner, into region: inout Region, path: String) throws {
        let key = fieldName(&s)
        s.skipSpaces()
        var usage = region.usage ?? Region.Usage()
        if key == "VmFlags" {
            usage.flags = String(procBytes: s.restOfLine()).split(separator: " ").map(String.init)
            region.usage = usage
            return
        }
        let value = s.decimal()
        s.skipLine()
        guard let kb = value else { region.usage = usage; return } // e.g. THPeligible: 0 is a decimal; others tolerated
        let bytes = kb &* 1024
        switch key {
        case "Rss": usage.rss = bytes
        case "Pss": usage.pss = bytes
        case "Private_Dirty": usage.privateDirty = bytes
        case "Private_Clean": usage.privateClean = bytes
        case "Shared_Dirty": usage.sharedDirty = bytes
        case "Shared_Clean": usage.sharedClean = bytes
        case "Anonymous": usage.anonymous = bytes
        case "Swap": usage.swap = bytes
        default: break
        }
        region.usage = usage
    }

    static func fieldName(_ s: inout ByteScanner) -> String {
        let start = s.index
        while s.index < s.bytes.count, s.bytes[s.index] != 0x3A, s.bytes[s.index] != 0x0A { s.index += 1 }
        let name = String(procBytes: UnsafeBufferPointer(rebasing: s.bytes[start..<s.index]))
        _ = s.consume(0x3A)
        return name
    }

    /// Parses smaps_rollup: one summary `Usage` for the whole process.
    public static func parseRollup(_ text: [UInt8], path: String = "smaps_rollup") throws -> Region.Usage {
        let regions = try parse(text, path: path)
        guard let first = regions.first, let usage = first.usage else {
            throw ProcError.malformed(path: path, reason: "no summary")
        }
        return usage
    }
}
