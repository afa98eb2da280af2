import DripModel

/// The ELF objects of one process, built from its /proc/PID/maps regions, and
/// the lookup runtime address → (module, file virtual address).
///
/// Bias rule (as the kernel's ELF loader and ld.so map segments): a PT_LOAD with
/// file offset `o` and virtual address `v` is mapped from file page `pagedown(o)`
/// at `pagedown(v) + bias`. So for a mapping whose file offset equals
/// `pagedown(p_offset)` of some PT_LOAD, `bias = mapping.start - pagedown(p_vaddr)`.
/// This is 0 for ET_EXEC, the load base for PIE executables and libraries whose
/// first PT_LOAD has vaddr 0, and still right when it does not (prelinked objects).
public struct ModuleMap: Sendable {
    /// Sorted by start address; spans do not overlap.
    public let modules: [LoadedModule]

    /// - Parameters:
    ///   - regions: the process's maps lines, in any order.
    ///   - pid: when given, deleted objects are read through /proc/PID/map_files.
    ///   - pageSize: the process's page size (4096 on x86-64).
    ///   - loader: reads an object's headers; injectable for tests. Files that do not
    ///     parse as ELF are not modules unless mapped executable (then the bias is guessed).
    public init(regions: [Region], pid: Int32? = nil, pageSize: UInt64 = 4096,
                loader: (String) throws -> ELFFile = { path in
                    guard ELFFile.looksLikeELF(atPath: path) else { throw ELFError.notELF }
                    return try ELFFile(contentsOf: path, includeSymbols: false)
                }) {
        // Group by (path, inode): one object can be mapped once per process normally;
        // a second, different inode under the same path is a replaced file.
        var groups: [String: [Region]] = [:]
        var order: [String] = []
        for region in regions where region.inode != 0 && region.path.hasPrefix("/") {
            let key = region.path + "\u{0}" + String(region.inode)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(region)
        }
        var modules: [LoadedModule] = []
        for key in order {
            let mappings = groups[key]!.sorted { $0.start < $1.start }
            if let module = ModuleMap.module(mappings, pid: pid, pageSize: pageSize, loader: loader) {
                modules.append(module)
            }
        }
        modules.sort { $0.start < $1.start }
        // Clip spans that reach into the next module (a guessed .bss end must not steal addresses).
        for index in modules.indices.dropLast() where modules[index].end > modules[index + 1].start {
            modules[index].end = max(modules[index].start, modules[index + 1].start)
        }
        self.modules = modules
    }

    static let deletedSuffix = " (deleted)"

    static func module(_ mappings: [Region], pid: Int32?, pageSize: UInt64,
                       loader: (String) throws -> ELFFile) -> LoadedModule? {
        let first = mappings[0]
        var path = first.path
        let isDeleted = path.hasSuffix(deletedSuffix)
        if isDeleted { path.removeLast(deletedSuffix.count) }
        var objectPath = path
        if isDeleted, let pid {
            objectPath = "/proc/\(pid)/map_files/" + String(first.start, radix: 16) + "-" + String(first.end, radix: 16)
        }
        let start = first.start
        var end = mappings.map(\.end).max()!
        let pageMask = ~(pageSize - 1)

        guard let elf = try? loader(objectPath) else {
            // Unreadable: only executable mappings make it a module worth symbolizing.
            guard mappings.contains(where: { $0.permissions.execute }) else { return nil }
            let lowest = mappings.min { $0.offset < $1.offset }!
            return LoadedModule(path: path, objectPath: objectPath, isDeleted: isDeleted,
                                bias: lowest.start &- lowest.offset, biasIsExact: false,
                                start: start, end: end, buildID: nil, fileType: nil)
        }
        let loads = elf.loadSegments
        var bias: UInt64?
        for mapping in mappings {
            if let segment = loads.first(where: { $0.offset & pageMask == mapping.offset }) {
                bias = mapping.start &- (segment.virtualAddress & pageMask)
                break
            }
        }
        guard let bias else {
            // Mapped, but at no PT_LOAD offset: a data file that happens to be ELF
            // (e.g. a debug file opened with mmap). Not code; not a module.
            return nil
        }
        if let top = loads.map({ $0.virtualAddress &+ $0.memorySize }).max() {
            end = max(end, (bias &+ top &+ (pageSize - 1)) & pageMask)
        }
        return LoadedModule(path: path, objectPath: objectPath, isDeleted: isDeleted, bias: bias,
                            biasIsExact: true, start: start, end: end, buildID: elf.buildID,
                            fileType: elf.fileType)
    }

    /// The module whose span contains `address`.
    public func module(containing address: UInt64) -> LoadedModule? {
        var low = 0, high = modules.count
        while low < high {
            let mid = (low + high) / 2
            if modules[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, modules[low - 1].contains(address) else { return nil }
        return modules[low - 1]
    }

    /// The module and file virtual address for a runtime address; nil for
    /// anonymous memory, JIT code and the vDSO.
    public func resolve(_ address: UInt64) -> ModuleAddress? {
        guard let module = module(containing: address) else { return nil }
        return ModuleAddress(address: address, module: module.path, objectPath: module.objectPath,
                             offset: module.fileAddress(ofRuntime: address))
    }

    /// The module loaded from `path` (exact, or ending in `/suffix` when `path` has no slash).
    public func module(path: String) -> LoadedModule? {
        modules.first { $0.path == path || (!path.contains("/") && $0.path.hasSuffix("/" + path)) }
    }
}
