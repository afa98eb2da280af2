/// A runtime address placed in its module: what llvm-symbolizer needs.
public struct ModuleAddress: Sendable, Hashable {
    /// The address in the process.
    public var address: UInt64
    /// The module's path as the process maps it (for display).
    public var module: String
    /// The file to symbolize against (differs from `module` for deleted files).
    public var objectPath: String
    /// The file virtual address: `address - bias`.
    public var offset: UInt64

    public init(address: UInt64, module: String, objectPath: String, offset: UInt64) {
        self.address = address; self.module = module; self.objectPath = objectPath; self.offset = offset
    }
}
