/// The `.gnu_debuglink` section: where the stripped debug info lives
/// (looked up next to the binary, in `.debug/`, and under /usr/lib/debug).
public struct ELFDebugLink: Sendable, Hashable {
    /// The debug file's base name, e.g. `libc.so.6.debug`.
    public var fileName: String
    /// CRC-32 of the whole debug file, to check a candidate matches.
    public var crc: UInt32

    public init(fileName: String, crc: UInt32) {
        self.fileName = fileName; self.crc = crc
    }
}
