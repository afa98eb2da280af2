#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed ELF64 little-endian image: headers, segments, sections, build-id,
/// debug link and symbols. Parsing is pure over bytes (`init(bytes:)`), eager,
/// and keeps no reference to the bytes, so a value is cheap to keep and share.
/// Every offset is checked before it is read; bad input throws `ELFError`.
public struct ELFFile: Sendable {
    /// `e_type`.
    public enum FileType: Sendable, Hashable {
        case relocatable, executable, sharedObject, core
        case other(UInt16)
    }

    public let fileType: FileType
    /// `e_machine` (62 = x86-64, 183 = AArch64).
    public let machine: UInt16
    public let entry: UInt64
    public let segments: [ELFSegment]
    public let sections: [ELFSection]
    /// The GNU build-id note as lowercase hex (what `readelf -n` prints), if present.
    public let buildID: String?
    public let debugLink: ELFDebugLink?
    /// Function symbols from `.symtab` and `.dynsym`, sorted by address,
    /// one per address (a `.symtab` global wins over aliases, see `preferred`).
    public let functions: [ELFSymbol]
    let symbolsByName: [String: ELFSymbol]

    /// ET_DYN: a PIE executable or a shared library, loaded at a random base.
    /// ET_EXEC images run at their link addresses (bias 0).
    public var isPositionIndependent: Bool { fileType == .sharedObject }

    public var loadSegments: [ELFSegment] { segments.filter { $0.kind == .load } }
    /// The first executable PT_LOAD: the module's code, for `drip dll`.
    public var textSegment: ELFSegment? { segments.first { $0.kind == .load && $0.isExecutable } }
    /// The first writable PT_LOAD: `.data`, `.got` and `.bss`, for `drip dll`.
    public var dataSegment: ELFSegment? { segments.first { $0.kind == .load && $0.isWritable } }
    public var dynamicSegment: ELFSegment? { segments.first { $0.kind == .dynamic } }
    public var ehFrameHeader: ELFSegment? { segments.first { $0.kind == .gnuEHFrame } }

    public func section(named name: String) -> ELFSection? { sections.first { $0.name == name } }

    /// Reads the whole file in one go and parses it. Files are opened read-only;
    /// `/proc/PID/map_files/...` paths work for deleted objects.
    ///
    /// - Parameter includeSymbols: false skips `.symtab`/`.dynsym` (`functions` is
    ///   then empty and `symbol(named:)` finds nothing): enough for segments and the
    ///   build-id, and much faster on large libraries.
    public init(contentsOf path: String, includeSymbols: Bool = true) throws {
        let bytes = try ELFFile.readFile(path)
        try self.init(bytes: bytes, includeSymbols: includeSymbols)
    }

    /// Parses an image held in memory.
    public init(bytes: [UInt8], includeSymbols: Bool = true) throws {
        let parsed = try bytes.withUnsafeBytes { raw in
            try ELFParser(ByteView(base: raw)).parse(includeSymbols: includeSymbols)
        }
        fileType = parsed.fileType; machine = parsed.machine; entry = parsed.entry
        segments = parsed.segments; sections = parsed.sections
        buildID = parsed.buildID; debugLink = parsed.debugLink
        functions = parsed.functions; symbolsByName = parsed.symbolsByName
    }

    /// Reads at most `limit` bytes (default: all) of `path`.
    static func readFile(_ path: String, limit: Int = .max) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ELFError.unreadable(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ELFError.unreadable(path: path, errno: errno) }
        let size = min(Int(info.st_size), limit)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ELFError.unreadable(path: path, errno: errno)
            }
            if n == 0 { break }  // the file shrank under us: parse what we have
            done += n
        }
        return done == size ? bytes : Array(bytes[..<done])
    }

    /// True when `path` starts with the ELF magic: lets callers skip mapped data
    /// files (fonts, locale archives) without reading them whole.
    public static func looksLikeELF(atPath path: String) -> Bool {
        guard let head = try? readFile(path, limit: 4) else { return false }
        return head == [0x7f, 0x45, 0x4c, 0x46]
    }
}
