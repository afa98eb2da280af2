import Foundation
import DripModel

/// Which bytes of each mapping go into the core: the kernel's vma_dump_size()
/// (fs/coredump.c) decided from /proc/PID/smaps instead of the VMA.
///
/// coredump_filter bits (core(5)): 0 anonymous private, 1 anonymous shared,
/// 2 file-backed private, 3 file-backed shared, 4 ELF header pages (first page
/// of a file mapping at offset 0), 5 private huge pages, 6 shared huge pages.
/// Always skipped: MADV_DONTDUMP (`dd`), I/O and PFN mappings (`io`, `pf`:
/// [vvar], device memory). Always kept: the vDSO. Departures from the kernel,
/// which sees the VMA itself: "written to" (the VMA has an anon_vma) is read
/// as smaps Anonymous or Swap > 0 for file mappings and Rss or Swap > 0 for
/// anonymous ones (an anonymous mapping with nothing resident is all zeros,
/// so nothing is lost), and mappings without read permission are not read.
public struct DumpFilter: Sendable, Equatable {
    public var bits: UInt32
    public static let kernelDefault = DumpFilter(bits: 0x33)

    public init(bits: UInt32) { self.bits = bits }

    func has(_ bit: Int) -> Bool { bits & (1 << bit) != 0 }

    /// - Parameter isELF: whether the file behind a mapping starts with an ELF header.
    public func fileSize(_ r: Region, isELF: (String) -> Bool = { _ in true }) -> UInt64 {
        let flags = Set(r.usage?.flags ?? [])
        if r.path == "[vdso]" { return r.size }
        if flags.contains("dd") || flags.contains("io") || flags.contains("pf") { return 0 }
        if !r.permissions.read || r.path == "[vvar]" || r.path == "[vvar_vclock]" || r.path == "[vsyscall]" { return 0 }
        let usage = r.usage ?? Region.Usage()
        if flags.contains("ht") { return has(r.permissions.shared ? 6 : 5) ? r.size : 0 }
        if r.permissions.shared {
            return has(Self.isAnonymousShared(r) ? 1 : 3) ? r.size : 0
        }
        let fileBacked = r.inode != 0 && r.path.hasPrefix("/")
        if !fileBacked {
            // Anonymous private: heap, stacks, malloc arenas, [anon:...].
            let touched = r.usage == nil || usage.rss > 0 || usage.swap > 0
            return has(0) && touched ? r.size : 0
        }
        if has(0) && (usage.anonymous > 0 || usage.swap > 0) { return r.size }
        if has(2) { return r.size }
        if has(4) && r.offset == 0 && isELF(Self.withoutDeleted(r.path)) { return min(CoreLayout.pageSize, r.size) }
        return 0
    }

    /// Shared memory the kernel counts as anonymous: an unlinked inode (i_nlink == 0).
    static func isAnonymousShared(_ r: Region) -> Bool {
        r.inode == 0 || r.path.isEmpty || r.path.hasPrefix("/dev/zero") || r.path.hasPrefix("/SYSV")
            || r.path.hasPrefix("/memfd:") || r.path.hasSuffix(" (deleted)")
    }

    static func withoutDeleted(_ path: String) -> String {
        path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// Parses /proc/PID/coredump_filter ("00000033\n", hex).
    public static func parse(_ text: String) -> DumpFilter? {
        UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16).map(DumpFilter.init(bits:))
    }
}
