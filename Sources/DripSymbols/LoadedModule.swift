/// One ELF object mapped into a process: the executable, a shared library, or
/// the dynamic loader.
public struct LoadedModule: Sendable, Hashable {
    /// The path as /proc/PID/maps names it, without the ` (deleted)` suffix.
    public var path: String
    /// Where to read the object: `path`, or `/proc/PID/map_files/START-END`
    /// when the file was deleted or replaced after it was mapped (needs
    /// CAP_SYS_ADMIN or same-user ptrace access on most kernels).
    public var objectPath: String
    /// The maps line said ` (deleted)`: the file on disk is gone or a different build.
    public var isDeleted: Bool
    /// runtime address = file virtual address + bias. 0 for ET_EXEC images.
    public var bias: UInt64
    /// False when the ELF headers could not be read and the bias assumes
    /// p_vaddr == p_offset for the lowest mapping (true for typical ld/lld output).
    public var biasIsExact: Bool
    /// The runtime span `[start, end)` covering every mapping of the object and
    /// its PT_LOAD memory images (so `.bss` counts, for data symbols).
    public var start: UInt64
    public var end: UInt64
    public var buildID: String?
    /// ET_EXEC, or ET_DYN (a PIE executable or shared library); nil when unread.
    public var fileType: ELFFile.FileType?

    public init(path: String, objectPath: String, isDeleted: Bool, bias: UInt64, biasIsExact: Bool,
                start: UInt64, end: UInt64, buildID: String?, fileType: ELFFile.FileType?) {
        self.path = path; self.objectPath = objectPath; self.isDeleted = isDeleted; self.bias = bias
        self.biasIsExact = biasIsExact; self.start = start; self.end = end; self.buildID = buildID
        self.fileType = fileType
    }

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// The file virtual address (what `nm` and llvm-symbolizer use) of a runtime address.
    public func fileAddress(ofRuntime address: UInt64) -> UInt64 { address &- bias }

    /// The runtime address of a file virtual address, e.g. a symbol's `value`.
    public func runtimeAddress(ofFile address: UInt64) -> UInt64 { address &+ bias }

    /// The last path component, for compact reports.
    public var name: String { path.split(separator: "/").last.map(String.init) ?? path }
}
