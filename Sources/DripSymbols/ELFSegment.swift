/// One program header (`Elf64_Phdr`): how the loader maps part of the file.
public struct ELFSegment: Sendable, Hashable {
    /// `p_type`. Named constants cover the types drip uses.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let load = Kind(rawValue: 1)
        public static let dynamic = Kind(rawValue: 2)
        public static let interpreter = Kind(rawValue: 3)
        public static let note = Kind(rawValue: 4)
        public static let tls = Kind(rawValue: 7)
        public static let gnuEHFrame = Kind(rawValue: 0x6474_e550)
        public static let gnuStack = Kind(rawValue: 0x6474_e551)
        public static let gnuRelro = Kind(rawValue: 0x6474_e552)

        public var description: String {
            switch self {
            case .load: return "LOAD"
            case .dynamic: return "DYNAMIC"
            case .interpreter: return "INTERP"
            case .note: return "NOTE"
            case .tls: return "TLS"
            case .gnuEHFrame: return "GNU_EH_FRAME"
            case .gnuStack: return "GNU_STACK"
            case .gnuRelro: return "GNU_RELRO"
            default: return "0x" + String(rawValue, radix: 16)
            }
        }
    }

    public var kind: Kind
    /// `p_flags`: PF_X = 1, PF_W = 2, PF_R = 4.
    public var flags: UInt32
    public var offset: UInt64
    public var virtualAddress: UInt64
    public var fileSize: UInt64
    public var memorySize: UInt64
    public var alignment: UInt64

    public init(kind: Kind, flags: UInt32, offset: UInt64, virtualAddress: UInt64, fileSize: UInt64,
                memorySize: UInt64, alignment: UInt64) {
        self.kind = kind; self.flags = flags; self.offset = offset; self.virtualAddress = virtualAddress
        self.fileSize = fileSize; self.memorySize = memorySize; self.alignment = alignment
    }

    public var isReadable: Bool { flags & 4 != 0 }
    public var isWritable: Bool { flags & 2 != 0 }
    public var isExecutable: Bool { flags & 1 != 0 }

    /// True when `address` (a file virtual address) lies in the segment's memory image.
    public func contains(virtualAddress address: UInt64) -> Bool {
        address >= virtualAddress && address - virtualAddress < memorySize
    }
}
