/// What a mapping is to the analyst: the router's memory areas, decided from
/// /proc/PID/maps alone (see docs/COLUMNS.md for the rule behind each case).
public enum MemoryClass: String, Sendable, Codable, CaseIterable {
    case programText = "Program Text"
    case programData = "Program Data"
    case dllText = "DLL Text"
    case dllData = "DLL Data"
    case stack = "Stack"
    case allocated = "Allocated Memory"
    case shared = "Shared Memory"
    /// Device or raw page-frame mappings (VmFlags `io`/`pf`): not RAM the process allocated.
    case physicalMapped = "Physical Mapped Memory"
    case mappedFile = "Mapped File"
    /// Private anonymous memory that is readable but not writable (rare: mprotect'ed tables).
    case readOnlyAnonymous = "Read-only Anonymous"
    case reserved = "Reserved"
    case kernel = "Kernel"
}

/// The per-process totals behind `drip ps`, in bytes of address space (virtual)
/// unless the name says resident.
public struct MemoryTotals: Sendable, Equatable, Codable {
    public var text: UInt64 = 0
    public var data: UInt64 = 0
    public var stack: UInt64 = 0
    public var dynamic: UInt64 = 0
    public var shared: UInt64 = 0
    /// Resident bytes of the whole process (smaps_rollup Rss).
    public var resident: UInt64 = 0
    /// Resident bytes of the Dynamic regions only.
    public var dynamicResident: UInt64 = 0
    /// Proportional set size (smaps_rollup Pss).
    public var proportional: UInt64 = 0
    public var swap: UInt64 = 0
    /// Address space in total (VmSize): includes reservations.
    public var virtualSize: UInt64 = 0

    public init() {}
}

/// The kernel's own counters for a process's mappings (/proc/PID/statm and the
/// thread count). Classifying mappings partitions the same address space, so
/// while none of these move, the class totals drip measured last time still
/// hold; only a same-size unmap-and-map across classes could hide behind an
/// unchanged fingerprint.
public struct MappingFingerprint: Sendable, Equatable, Codable {
    /// Pages mapped (VmSize).
    public var size: UInt64
    /// Pages of the executable's code (VmExe).
    public var text: UInt64
    /// Pages of private writable memory plus the stack (VmData + VmStk).
    public var data: UInt64
    public var threads: Int

    public init(size: UInt64, text: UInt64, data: UInt64, threads: Int) {
        self.size = size; self.text = text; self.data = data; self.threads = threads
    }
}

/// A process's measured totals together with the fingerprint they were measured under.
public struct MeasuredUsage: Sendable, Equatable {
    public var fingerprint: MappingFingerprint
    public var memory: MemoryTotals
    public var runsHeapAgent: Bool

    public init(fingerprint: MappingFingerprint, memory: MemoryTotals, runsHeapAgent: Bool) {
        self.fingerprint = fingerprint; self.memory = memory; self.runsHeapAgent = runsHeapAgent
    }
}
