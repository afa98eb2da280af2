/// The parsing behind `ELFFile.init(bytes:)`, over a bounds-checked view.
struct ELFParser {
    let view: ByteView

    init(_ view: ByteView) { self.view = view }

    struct Result {
        var fileType: ELFFile.FileType = .other(0)
        var machine: UInt16 = 0
        var entry: UInt64 = 0
        var segments: [ELFSegment] = []
        var sections: [ELFSection] = []
        var buildID: String?
        var debugLink: ELFDebugLink?
        var functions: [ELFSymbol] = []
        var symbolsByName: [String: ELFSymbol] = [:]
    }

    func parse(includeSymbols: Bool = true) throws -> Result {
        guard view.count >= 4, view.base[0] == 0x7f, view.base[1] == 0x45, view.base[2] == 0x4c,
              view.base[3] == 0x46 else { throw ELFError.notELF }
        try view.check(0, 64, "ELF header")
        let elfClass = view.base[4], data = view.base[5]
        guard elfClass == 2 else { throw ELFError.unsupportedClass(elfClass) }
        guard data == 1 else { throw ELFError.unsupportedByteOrder(data) }

        var result = Result()
        let type = try view.u16(16, "e_type")
        switch type {
        case 1: result.fileType = .relocatable
        case 2: result.fileType = .executable
        case 3: result.fileType = .sharedObject
        case 4: result.fileType = .core
        default: result.fileType = .other(type)
        }
        result.machine = try view.u16(18, "e_machine")
        result.entry = try view.u64(24, "e_entry")
        result.segments = try programHeaders()
        result.sections = try sectionHeaders()
        result.buildID = try buildID(segments: result.segments, sections: result.sections)
        result.debugLink = try debugLink(result.sections)
        if includeSymbols { (result.functions, result.symbolsByName) = try symbols(result.sections) }
        return result
    }

    // MARK: Program headers

    func programHeaders() throws -> [ELFSegment] {
        let offset = try view.u64(32, "e_phoff")
        let entrySize = UInt64(try view.u16(54, "e_phentsize"))
        let count = UInt64(try view.u16(56, "e_phnum"))
        guard count > 0 else { return [] }
        guard entrySize >= 56 else {
            throw ELFError.malformed(what: "program header table", detail: "e_phentsize \(entrySize) < 56")
        }
        try view.check(offset, entrySize * count, "program header table")
        return try (0..<count).map { index in
            let at = offset + index * entrySize
            return ELFSegment(
                kind: .init(rawValue: try view.u32(at, "p_type")),
                flags: try view.u32(at + 4, "p_flags"),
                offset: try view.u64(at + 8, "p_offset"),
                virtualAddress: try view.u64(at + 16, "p_vaddr"),
                fileSize: try view.u64(at + 32, "p_filesz"),
                memorySize: try view.u64(at + 40, "p_memsz"),
                alignment: try view.u64(at + 48, "p_align"))
        }
    }

    // MARK: Section headers

    func sectionHeaders() throws -> [ELFSection] {
        let offset = try view.u64(40, "e_shoff")
        let entrySize = UInt64(try view.u16(58, "e_shentsize"))
        var count = UInt64(try view.u16(60, "e_shnum"))
        var nameIndex = UInt64(try view.u16(62, "e_shstrndx"))
        guard offset != 0 else { return [] }
        guard entrySize >= 64 else {
            throw ELFError.malformed(what: "section header table", detail: "e_shentsize \(entrySize) < 64")
        }
        try view.check(offset, entrySize, "section header table")
        // More than 0xff00 sections: the real counts live in section 0 (gABI, "Extended Section Indices").
        if count == 0 { count = try view.u64(offset + 32, "section 0 sh_size (extended e_shnum)") }
        if nameIndex == 0xffff { nameIndex = UInt64(try view.u32(offset + 40, "section 0 sh_link (extended e_shstrndx)")) }
        let (total, overflow) = entrySize.multipliedReportingOverflow(by: count)
        guard !overflow else { throw ELFError.malformed(what: "section header table", detail: "\(count) entries") }
        try view.check(offset, total, "section header table")

        var raw: [(nameOffset: UInt32, section: ELFSection)] = []
        raw.reserveCapacity(Int(count))
        for index in 0..<count {
            let at = offset + index * entrySize
            raw.append((try view.u32(at, "sh_name"), ELFSection(
                name: "", type: try view.u32(at + 4, "sh_type"), flags: try view.u64(at + 8, "sh_flags"),
                address: try view.u64(at + 16, "sh_addr"), offset: try view.u64(at + 24, "sh_offset"),
                size: try view.u64(at + 32, "sh_size"), link: try view.u32(at + 40, "sh_link"),
                info: try view.u32(at + 44, "sh_info"), entrySize: try view.u64(at + 56, "sh_entsize"))))
        }
        guard nameIndex != 0 else { return raw.map(\.section) }
        guard nameIndex < count else {
            throw ELFError.malformed(what: "e_shstrndx", detail: "index \(nameIndex) of \(count) sections")
        }
        let names = raw[Int(nameIndex)].section
        try view.check(names.offset, names.size, "section name table (.shstrtab)")
        return try raw.map { entry in
            var section = entry.section
            section.name = try view.cString(names.offset + UInt64(entry.nameOffset),
                                            limit: names.offset + names.size, "section name")
            return section
        }
    }

    // MARK: Notes and debug link

    /// NT_GNU_BUILD_ID (3) from the PT_NOTE segments, else from SHT_NOTE sections
    /// (relocatable objects and separate debug files have no program headers).
    func buildID(segments: [ELFSegment], sections: [ELFSection]) throws -> String? {
        var areas = segments.filter { $0.kind == .note }.map { ($0.offset, $0.fileSize, $0.alignment) }
        if areas.isEmpty {
            areas = sections.filter { $0.type == 7 }.map { ($0.offset, $0.size, $0.entrySize) }
        }
        for (offset, size, alignment) in areas {
            if let id = try buildID(notesAt: offset, size: size, alignment: alignment) { return id }
        }
        return nil
    }

    private func buildID(notesAt start: UInt64, size: UInt64, alignment: UInt64) throws -> String? {
        try view.check(start, size, "note segment")
        // Note fields are aligned to 4 bytes, or 8 in 8-aligned segments (GNU property
        // notes), measured from the segment start: a 12-byte header, then the name and
        // the descriptor each padded to the alignment.
        let align: UInt64 = alignment == 8 ? 8 : 4
        func aligned(_ at: UInt64) -> UInt64 { start + (at - start + align - 1) / align * align }
        var at = start
        let end = start + size
        while at + 12 <= end {
            let nameSize = UInt64(try view.u32(at, "note namesz"))
            let descSize = UInt64(try view.u32(at + 4, "note descsz"))
            let type = try view.u32(at + 8, "note type")
            let nameAt = at + 12
            guard nameSize <= end - nameAt, aligned(nameAt + nameSize) <= end,
                  descSize <= end - aligned(nameAt + nameSize) else {
                throw ELFError.malformed(what: "note", detail: "entry at offset \(at) overruns its segment")
            }
            let descAt = aligned(nameAt + nameSize)
            if type == 3, nameSize == 4 {
                let name = try view.bytes(nameAt, 4, "note name")
                if Array(name) == [0x47, 0x4e, 0x55, 0] {  // "GNU\0"
                    let desc = try view.bytes(descAt, descSize, "build-id note")
                    return desc.map { byte in
                        let hex = String(byte, radix: 16)
                        return byte < 16 ? "0" + hex : hex
                    }.joined()
                }
            }
            at = aligned(descAt + descSize)
        }
        return nil
    }

    func debugLink(_ sections: [ELFSection]) throws -> ELFDebugLink? {
        guard let section = sections.first(where: { $0.name == ".gnu_debuglink" }), section.occupiesFile
        else { return nil }
        try view.check(section.offset, section.size, ".gnu_debuglink")
        let end = section.offset + section.size
        let name = try view.cString(section.offset, limit: end, ".gnu_debuglink file name")
        // The CRC follows the name's NUL, padded to a 4-byte boundary.
        let crcAt = (section.offset + UInt64(name.utf8.count) + 1 + 3) / 4 * 4
        guard crcAt + 4 <= end else {
            throw ELFError.truncated(what: ".gnu_debuglink CRC", offset: crcAt, length: 4, fileSize: end)
        }
        return ELFDebugLink(fileName: name, crc: try view.u32(crcAt, ".gnu_debuglink CRC"))
    }

    // MARK: Symbols

    func symbols(_ sections: [ELFSection]) throws -> ([ELFSymbol], [String: ELFSymbol]) {
        var functions: [ELFSymbol] = []
        var byName: [String: ELFSymbol] = [:]
        // .symtab first so its richer set (static functions) wins on duplicates.
        let tables = sections.filter { $0.type == 2 } + sections.filter { $0.type == 11 }
        for table in tables {
            let isDynamic = table.type == 11
            let hidden = isDynamic ? try hiddenVersions(of: table, in: sections) : []
            let what = isDynamic ? ".dynsym" : ".symtab"
            let entrySize = table.entrySize == 0 ? 24 : table.entrySize
            guard entrySize >= 24 else {
                throw ELFError.malformed(what: what, detail: "sh_entsize \(entrySize) < 24")
            }
            guard Int(table.link) < sections.count else {
                throw ELFError.malformed(what: what, detail: "sh_link \(table.link) names no section")
            }
            let strings = sections[Int(table.link)]
            try view.check(table.offset, table.size, what)
            try view.check(strings.offset, strings.size, "\(what) string table")
            let stringsEnd = strings.offset + strings.size
            for index in 1..<max(1, table.size / entrySize) {  // entry 0 is the null symbol
                let at = table.offset + index * entrySize
                let info = try view.u8(at + 4, "st_info")
                let section = try view.u16(at + 6, "st_shndx")
                let kind: ELFSymbol.Kind
                switch info & 0xf {
                case 2, 10: kind = .function       // STT_FUNC, STT_GNU_IFUNC
                case 1, 6: kind = .object          // STT_OBJECT, STT_TLS
                default: continue
                }
                guard section != 0 else { continue }  // SHN_UNDEF: imported, not defined here
                let nameOffset = UInt64(try view.u32(at, "st_name"))
                guard nameOffset != 0 else { continue }
                let binding: ELFSymbol.Binding
                switch info >> 4 {
                case 0: binding = .local
                case 2: binding = .weak
                default: binding = .global
                }
                let symbol = ELFSymbol(
                    name: try view.cString(strings.offset + nameOffset, limit: stringsEnd, "\(what) symbol name"),
                    value: try view.u64(at + 8, "st_value"), size: try view.u64(at + 16, "st_size"),
                    kind: kind, binding: binding, isDynamic: isDynamic)
                // A hidden version (`realpath@GLIBC_2.2.5` next to the default
                // `realpath@@GLIBC_2.3`) is what old binaries bind to, not the name's meaning.
                let isHidden = Int(index) < hidden.count && hidden[Int(index)]
                if !isHidden, byName[symbol.name] == nil || (byName[symbol.name]!.binding == .local && binding != .local) {
                    byName[symbol.name] = symbol
                }
                if kind == .function { functions.append(symbol) }
            }
        }
        functions.sort { $0.value != $1.value ? $0.value < $1.value : ELFParser.preferred($0, over: $1) }
        var unique: [ELFSymbol] = []
        unique.reserveCapacity(functions.count)
        for symbol in functions where unique.last?.value != symbol.value { unique.append(symbol) }
        return (unique, byName)
    }

    /// Per `.dynsym` entry: true when its `.gnu.version` entry has the hidden bit
    /// (0x8000), i.e. it is a non-default symbol version. Empty without versioning.
    func hiddenVersions(of table: ELFSection, in sections: [ELFSection]) throws -> [Bool] {
        guard let index = sections.firstIndex(of: table),
              let versions = sections.first(where: { $0.type == 0x6fff_ffff && Int($0.link) == index }) else { return [] }
        try view.check(versions.offset, versions.size, ".gnu.version")
        return try (0..<(versions.size / 2)).map { entry in
            try view.u16(versions.offset + entry * 2, ".gnu.version entry") & 0x8000 != 0
        }
    }

    /// Among aliases at one address, the name a person expects: global before weak
    /// before local, sized before unsized, then no leading underscores
    /// (`malloc` over `__libc_malloc`), then shortest, then alphabetical (deterministic).
    static func preferred(_ a: ELFSymbol, over b: ELFSymbol) -> Bool {
        func rank(_ s: ELFSymbol) -> (Int, Int, Int, Int) {
            let binding = s.binding == .global ? 0 : s.binding == .weak ? 1 : 2
            let underscores = s.name.prefix { $0 == "_" }.count
            return (s.size > 0 ? 0 : 1, binding, underscores, s.name.utf8.count)
        }
        let ra = rank(a), rb = rank(b)
        return ra != rb ? ra < rb : a.name < b.name
    }
}
