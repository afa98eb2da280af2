/// Why an ELF image could not be read. Every case names the part of the file
/// that was wrong, so a report can say "libfoo.so: section header table truncated"
/// instead of failing silently.
public enum ELFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// open(2)/read(2) failed; `errno` is the C error number.
    case unreadable(path: String, errno: Int32)
    /// Fewer bytes than the 4-byte magic, or the magic is not `\x7fELF`.
    case notELF
    /// EI_CLASS is not ELFCLASS64 (2); drip reads 64-bit images only.
    case unsupportedClass(UInt8)
    /// EI_DATA is not ELFDATA2LSB (1); drip reads little-endian images only.
    case unsupportedByteOrder(UInt8)
    /// `what` lies (partly) outside the file: it needs `length` bytes at `offset`
    /// but the file has `fileSize` bytes.
    case truncated(what: String, offset: UInt64, length: UInt64, fileSize: UInt64)
    /// A structurally impossible value, e.g. an entry size smaller than the record.
    case malformed(what: String, detail: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let errno): return "\(path): cannot read (errno \(errno))"
        case .notELF: return "not an ELF file"
        case .unsupportedClass(let c): return "unsupported ELF class \(c) (only ELF64 is read)"
        case .unsupportedByteOrder(let d): return "unsupported ELF byte order \(d) (only little-endian is read)"
        case .truncated(let what, let offset, let length, let size):
            return "\(what) truncated: needs \(length) bytes at offset \(offset), file has \(size)"
        case .malformed(let what, let detail): return "\(what) malformed: \(detail)"
        }
    }
}
