import DripModel

/// Sorts a process's mappings into the router's memory areas. The rules, in
/// order (docs/COLUMNS.md explains each):
/// 1. `[vdso]`, `[vvar]`, `[vsyscall]`: Kernel (not counted).
/// 2. `[stack]`, a mapping holding a thread's stack pointer, or an anonymous
///    private writable mapping right above a small `---p` guard: Stack.
/// 3. Device/PFN mappings (VmFlags io or pf, known only from smaps): Physical
///    Mapped Memory. Any other `s` (shared) mapping: Shared Memory.
/// 4. `---p`: Reserved (address space with no memory; never counted).
/// 5. A file with at least one executable mapping is a module: the program
///    (the process's executable) or a DLL. Its non-writable mappings are Text
///    (code, read-only data, RELRO), its writable ones Data; an anonymous
///    writable mapping that starts where the module's last writable mapping
///    ends is its .bss tail and counts as Data. Other files: Mapped File.
/// 6. `[heap]` and every other private anonymous writable mapping: Allocated
///    Memory, the Dynamic column. Private anonymous read-only: Read-only Anonymous.
public enum RegionClassifier {
    /// Guards above this size are not pthread guards (glibc uses one page by default).
    static let maxGuardBytes: UInt64 = 64 * 1024

    /// Where a module's writable segment ends in memory (p_vaddr + p_memsz, page
    /// rounded, plus the load bias), given the file mapping of that segment.
    public typealias DataSegmentEnd = @Sendable (Region) -> UInt64?

    /// Classifies every mapping. The kernel merges an anonymous mapping with the
    /// one right above a library's .bss when their flags match, so a .bss tail
    /// can hold unrelated heap memory: with `dataSegmentEnd` such a mapping is
    /// split at the segment's end into Data and Allocated Memory; without it,
    /// the whole mapping counts as Data.
    public static func classify(_ regions: [Region], executable: String?, stackPointers: [UInt64] = [],
                                dataSegmentEnd: DataSegmentEnd? = nil) -> (regions: [Region], classes: [MemoryClass]) {
        // A deleted executable shows as "PATH (deleted)" in maps.
        let program = executable.map { exe in
            regions.first { $0.path == exe || $0.path == exe + " (deleted)" }?.path ?? exe
        } ?? regions.first(where: { $0.isFileBacked })?.path
        var modules = Set<String>()
        for r in regions where r.permissions.execute && r.path.hasPrefix("/") { modules.insert(r.path) }

        var outRegions: [Region] = []
        var classes: [MemoryClass] = []
        outRegions.reserveCapacity(regions.count)
        classes.reserveCapacity(regions.count)
        for (i, r) in regions.enumerated() {
            let c = classify(r, index: i, regions: regions, program: program, modules: modules,
                             stackPointers: stackPointers)
            if c == .programData || c == .dllData, !r.path.hasPrefix("/"), let end = dataSegmentEnd?(regions[i - 1]),
               end < r.end {
                if end > r.start {
                    var bss = r
                    bss.end = end
                    bss.usage = nil
                    outRegions.append(bss)
                    classes.append(c)
                }
                var rest = r
                rest.start = max(end, r.start)
                outRegions.append(rest)
                classes.append(.allocated)
                continue
            }
            outRegions.append(r)
            classes.append(c)
        }
        return (outRegions, classes)
    }

    private static func classify(_ r: Region, index i: Int, regions: [Region], program: String?, modules: Set<String>,
                                 stackPointers: [UInt64]) -> MemoryClass {
        switch r.path {
        case "[vdso]", "[vvar]", "[vsyscall]", "[vvar_vclock]": return .kernel
        case "[stack]": return .stack
        default: break
        }
        if let flags = r.usage?.flags, flags.contains("io") || flags.contains("pf") { return .physicalMapped }
        if r.permissions.shared { return .shared }
        if r.permissions.isReservation { return .reserved }
        let anonymous = r.inode == 0 && !r.path.hasPrefix("/")
        if anonymous {
            if stackPointers.contains(where: { r.contains($0) }) { return .stack }
            if r.permissions.write, i > 0 {
                let below = regions[i - 1]
                if below.end == r.start, below.permissions.isReservation, below.inode == 0,
                   below.size <= maxGuardBytes, r.path.isEmpty {
                    return .stack
                }
                // .bss tail of the module mapped just below.
                if below.end == r.start, below.permissions.write, below.path.hasPrefix("/"),
                   modules.contains(below.path), r.path.isEmpty {
                    return below.path == program ? .programData : .dllData
                }
            }
            return r.permissions.write ? .allocated : .readOnlyAnonymous
        }
        if modules.contains(r.path) {
            let isProgram = r.path == program
            if r.permissions.write { return isProgram ? .programData : .dllData }
            return isProgram ? .programText : .dllText
        }
        return .mappedFile
    }

    /// The `drip ps` columns for classified regions (virtual bytes; resident where smaps was read).
    public static func totals(_ regions: [Region], _ classes: [MemoryClass]) -> MemoryTotals {
        var t = MemoryTotals()
        for (r, c) in zip(regions, classes) {
            switch c {
            case .programText, .dllText: t.text += r.size
            case .programData, .dllData: t.data += r.size
            case .stack: t.stack += r.size
            case .allocated:
                t.dynamic += r.size
                t.dynamicResident += r.usage?.rss ?? 0
            case .shared: t.shared += r.size
            default: break
            }
            // [vsyscall] is the kernel's gate page, not a mapping of the process: VmSize leaves it out.
            if r.path != "[vsyscall]" { t.virtualSize += r.size }
        }
        return t
    }
}
