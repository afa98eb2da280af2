/// Bounds-checked little-endian reads over an ELF image. Every read names what it
/// reads so a bad offset surfaces as `ELFError.truncated(what:...)`, never a trap.
struct ByteView {
    let base: UnsafeRawBufferPointer

    var count: UInt64 { UInt64(base.count) }

    /// Throws unless `length` bytes at `offset` lie inside the image (overflow-safe).
    func check(_ offset: UInt64, _ length: UInt64, _ what: String) throws {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow || end > count {
            throw ELFError.truncated(what: what, offset: offset, length: length, fileSize: count)
        }
    }

    func u8(_ offset: UInt64, _ what: String) throws -> UInt8 {
        try check(offset, 1, what)
        return base[Int(offset)]
    }

    func u16(_ offset: UInt64, _ what: String) throws -> UInt16 {
        try check(offset, 2, what)
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self))
    }

    func u32(_ offset: UInt64, _ what: String) throws -> UInt32 {
        try check(offset, 4, what)
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self))
    }

    func u64(_ offset: UInt64, _ what: String) throws -> UInt64 {
        try check(offset, 8, what)
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self))
    }

    /// The NUL-terminated string at `offset`, which must end before `limit`
    /// (the end of its string table), so a missing terminator cannot run off.
    func cString(_ offset: UInt64, limit: UInt64, _ what: String) throws -> String {
        let end = min(limit, count)
        guard offset < end else {
            throw ELFError.truncated(what: what, offset: offset, length: 1, fileSize: end)
        }
        var index = Int(offset)
        while index < Int(end), base[index] != 0 { index += 1 }
        guard index < Int(end) else {
            throw ELFError.malformed(what: what, detail: "string at offset \(offset) has no terminating NUL")
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: base[Int(offset)..<index]), as: UTF8.self)
    }

    /// A copy of `length` bytes at `offset`.
    func bytes(_ offset: UInt64, _ length: UInt64, _ what: String) throws -> UnsafeRawBufferPointer {
        try check(offset, length, what)
        return UnsafeRawBufferPointer(rebasing: base[Int(offset)..<Int(offset + length)])
    }
}
