/// One section header (`Elf64_Shdr`) with its name resolved from `.shstrtab`.
public struct ELFSection: Sendable, Hashable {
    public var name: String
    /// `sh_type`: SHT_PROGBITS = 1, SHT_SYMTAB = 2, SHT_STRTAB = 3, SHT_NOTE = 7,
    /// SHT_NOBITS = 8, SHT_DYNSYM = 11.
    public var type: UInt32
    public var flags: UInt64
    public var address: UInt64
    public var offset: UInt64
    public var size: UInt64
    public var link: UInt32
    public var info: UInt32
    public var entrySize: UInt64

    public init(name: String, type: UInt32, flags: UInt64, address: UInt64, offset: UInt64, size: UInt64,
                link: UInt32, info: UInt32, entrySize: UInt64) {
        self.name = name; self.type = type; self.flags = flags; self.address = address; self.offset = offset
        self.size = size; self.link = link; self.info = info; self.entrySize = entrySize
    }

    /// SHT_NOBITS (`.bss`, or every stripped section of a separate debug file)
    /// occupies no bytes in the file, so its offset must not be read.
    public var occupiesFile: Bool { type != 8 && type != 0 }
}
