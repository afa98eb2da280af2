extension ELFFile {
    /// Only the program headers of `path`: the first few KiB of the file, not
    /// all of it. `drip ps` needs each module's segments (where .bss ends)
    /// for every process, and most libraries are megabytes long.
    public static func programHeaders(atPath path: String) throws -> [ELFSegment] {
        var bytes = try readFile(path, limit: 4096)
        var segments: [ELFSegment]?
        try bytes.withUnsafeBytes { raw in
            let parser = ELFParser(ByteView(base: raw))
            try parser.checkHeader()
            let needed = try parser.programHeaderTableEnd()
            if needed <= UInt64(raw.count) { segments = try parser.programHeaders() }
        }
        if let segments { return segments }
        // A program header table past the first page (rare): read up to its end.
        bytes = try readFile(path, limit: Int(clamping: try bytes.withUnsafeBytes {
            try ELFParser(ByteView(base: $0)).programHeaderTableEnd()
        }))
        return try bytes.withUnsafeBytes { try ELFParser(ByteView(base: $0)).programHeaders() }
    }

    /// Where a module's writable PT_LOAD ends in memory, given the file mapping
    /// of (part of) that segment: `p_vaddr + p_memsz` plus the load bias, page
    /// rounded. The mapping's file offset finds the segment; its start gives the bias.
    public static func dataSegmentEnd(_ segments: [ELFSegment], mappingStart: UInt64, mappingOffset: UInt64,
                                      pageSize: UInt64 = 4096) -> UInt64? {
        let mask = pageSize - 1
        for s in segments where s.kind == .load && s.isWritable {
            let fileStart = s.offset & ~mask
            guard mappingOffset >= fileStart, mappingOffset < s.offset + max(s.fileSize, 1) else { continue }
            let runtimeStart = mappingStart - (mappingOffset - fileStart)
            let bias = runtimeStart &- (s.virtualAddress & ~mask)
            return (bias &+ s.virtualAddress &+ s.memorySize &+ mask) & ~mask
        }
        return nil
    }
}

extension ELFParser {
    func checkHeader() throws {
        guard view.count >= 4, view.base[0] == 0x7f, view.base[1] == 0x45, view.base[2] == 0x4c,
              view.base[3] == 0x46 else { throw ELFError.notELF }
        try view.check(0, 64, "ELF header")
        guard view.base[4] == 2 else { throw ELFError.unsupportedClass(view.base[4]) }
        guard view.base[5] == 1 else { throw ELFError.unsupportedByteOrder(view.base[5]) }
    }

    func programHeaderTableEnd() throws -> UInt64 {
        let offset = try view.u64(32, "e_phoff")
        let entrySize = UInt64(try view.u16(54, "e_phentsize"))
        let count = UInt64(try view.u16(56, "e_phnum"))
        let (size, o1) = entrySize.multipliedReportingOverflow(by: count)
        let (end, o2) = offset.addingReportingOverflow(size)
        guard !o1, !o2, end <= 1 << 24 else {
            throw ELFError.malformed(what: "program header table", detail: "offset \(offset) size \(size)")
        }
        return end
    }
}
