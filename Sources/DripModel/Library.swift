/// A shared object mapped into a process (`drip dll`).
public struct Library: Sendable, Codable, Equatable {
    public var path: String
    /// The executable mapping: code.
    public var textStart: UInt64
    public var textSize: UInt64
    /// The writable mappings (.data, .bss) taken together; 0 when it has none.
    public var dataStart: UInt64
    public var dataSize: UInt64
    /// The GNU build-id note, hex; nil when the file has none or could not be read.
    public var buildID: String?

    public init(path: String, textStart: UInt64, textSize: UInt64, dataStart: UInt64, dataSize: UInt64, buildID: String? = nil) {
        self.path = path; self.textStart = textStart; self.textSize = textSize
        self.dataStart = dataStart; self.dataSize = dataSize; self.buildID = buildID
    }
}
