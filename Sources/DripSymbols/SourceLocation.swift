/// One function at one source position. A machine frame has several when the
/// compiler inlined calls into it.
public struct SourceLocation: Sendable, Hashable, Codable {
    /// Demangled, readable name; nil when unknown.
    public var function: String?
    /// The source file path as the debug info records it; nil without debug info.
    public var file: String?
    /// 0 when unknown.
    public var line: Int
    public var column: Int

    public init(function: String?, file: String?, line: Int, column: Int = 0) {
        self.function = function; self.file = file; self.line = line; self.column = column
    }

    /// `file.c:12` with the directory dropped, or nil without a file.
    public var shortFileLine: String? {
        guard let file, !file.isEmpty else { return nil }
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return line > 0 ? "\(base):\(line)" : base
    }
}
