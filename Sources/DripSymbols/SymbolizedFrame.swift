/// One stack address, symbolized.
public struct SymbolizedFrame: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The runtime address in the process.
    public var address: UInt64
    /// The module's path; nil for anonymous memory (JIT code, the vDSO).
    public var module: String?
    /// The file virtual address inside `module` (the address as llvm-symbolizer takes it).
    public var offset: UInt64
    /// Innermost first: inlined callees, then the function that really owns the
    /// code at `address` (last). Empty when nothing was found.
    public var locations: [SourceLocation]
    /// `address` minus the start of the owning function, when known from the symbol table.
    public var functionOffset: UInt64?

    public init(address: UInt64, module: String?, offset: UInt64, locations: [SourceLocation],
                functionOffset: UInt64? = nil) {
        self.address = address; self.module = module; self.offset = offset; self.locations = locations
        self.functionOffset = functionOffset
    }

    /// The innermost function name: what the code at this address was doing.
    public var function: String? { locations.first?.function }
    /// The function that owns the machine code (the outermost of the inlined chain):
    /// the one actually on the stack.
    public var owningFunction: String? { locations.last?.function }
    public var file: String? { locations.first?.file }
    public var line: Int { locations.first?.line ?? 0 }

    /// `libfoo.so+0x1a2b`: how an unresolved frame is shown.
    public var moduleOffset: String {
        let name = module.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "??"
        return module == nil ? "0x" + String(address, radix: 16) : name + "+0x" + String(offset, radix: 16)
    }

    /// `func (file.c:12)`, `func+0x10 (libfoo.so)`, or `libfoo.so+0x1a2b`.
    public var description: String {
        guard let function else { return moduleOffset }
        if let place = locations.first?.shortFileLine { return "\(function) (\(place))" }
        let name = module.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "??"
        if let functionOffset { return "\(function)+0x\(String(functionOffset, radix: 16)) (\(name))" }
        return "\(function) (\(name))"
    }
}
