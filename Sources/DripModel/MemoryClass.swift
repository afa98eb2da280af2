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
