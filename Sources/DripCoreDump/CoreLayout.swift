import CDripPtrace
import DripModel

/// One PT_LOAD: a mapping and how many of its bytes go into the file (the
/// coredump_filter decision, see `DumpFilter`).
public struct CoreSegment: Sendable, Equatable {
    public var region: Region
    /// 0 (header only), a page (an ELF header page), or the whole mapping.
    public var fileSize: UInt64

    public init(region: Region, fileSize: UInt64) {
        self.region = region; self.fileSize = fileSize
    }
}

/// The ELF core file's shape, decided before any memory is read so the file
/// can be streamed front to back into a compressor:
///
///     ELF header | program headers (PT_NOTE, PT_LOAD...) | notes | pad to page | segment data...
///
/// Notes follow the kernel's order (fs/binfmt_elf.c write_note_info): per
/// thread NT_PRSTATUS, then, after the first thread's NT_PRSTATUS only, the
/// process notes NT_PRPSINFO, NT_SIGINFO (when the thread has a signal),
/// NT_AUXV, NT_FILE; then the thread's NT_FPREGSET and NT_X86_XSTATE. gdb and
/// BFD attach each register note to the NT_PRSTATUS before it, and show the
/// first thread as the current one.
public struct CoreLayout: Sendable {
    /// Everything before the first segment's data.
    public let prefix: [UInt8]
    /// Each segment with its file offset.
    public let segments: [(segment: CoreSegment, offset: UInt64)]
    public let totalSize: UInt64

    public static let pageSize: UInt64 = 4096

    /// - Parameter threads: the first one is shown as the current thread.
    public static func make(process: CapturedProcess, threads: [CapturedThread], segments: [CoreSegment]) -> CoreLayout {
        let notes = CoreNotes.build(process: process, threads: threads, files: segments.map(\.region))
        let phnum = 1 + segments.count
        let notesOffset = UInt64(64 + 56 * phnum)
        let dataStart = (notesOffset + UInt64(notes.count) + pageSize - 1) & ~(pageSize - 1)

        var out = ByteWriter()
        // ELF header (Elf64_Ehdr).
        out.append([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])            // magic, ELFCLASS64, LSB, EV_CURRENT, SYSV
        out.append([UInt8](repeating: 0, count: 8))
        out.u16(4)                                                   // ET_CORE
        out.u16(62)                                                  // EM_X86_64
        out.u32(1)                                                   // e_version
        out.u64(0)                                                   // e_entry
        out.u64(64)                                                  // e_phoff
        out.u64(0)                                                   // e_shoff
        out.u32(0)                                                   // e_flags
        out.u16(64); out.u16(56); out.u16(UInt16(truncatingIfNeeded: min(phnum, 0xFFFF)))
        out.u16(64); out.u16(0); out.u16(0)                          // shentsize, shnum, shstrndx

        // PT_NOTE
        out.u32(4); out.u32(0)
        out.u64(notesOffset); out.u64(0); out.u64(0)
        out.u64(UInt64(notes.count)); out.u64(0); out.u64(4)
        var placed: [(segment: CoreSegment, offset: UInt64)] = []
        var offset = dataStart
        for s in segments {
            let r = s.region
            let flags: UInt32 = (r.permissions.read ? 4 : 0) | (r.permissions.write ? 2 : 0) | (r.permissions.execute ? 1 : 0)
            out.u32(1); out.u32(flags)                               // PT_LOAD
            out.u64(offset); out.u64(r.start); out.u64(0)
            out.u64(s.fileSize); out.u64(r.size); out.u64(pageSize)
            placed.append((s, offset))
            offset += s.fileSize
        }
        out.append(notes)
        out.pad(to: Int(dataStart))
        return CoreLayout(prefix: out.bytes, segments: placed, totalSize: offset)
    }
}

/// The PT_NOTE contents.
public enum CoreNotes {
    public static func build(process: CapturedProcess, threads: [CapturedThread], files: [Region]) -> [UInt8] {
        var out = ByteWriter()
        for (index, thread) in threads.enumerated() {
            note(&out, "CORE", UInt32(DRIP_NT_PRSTATUS), prstatus(process, thread))
            if index == 0 {
                note(&out, "CORE", UInt32(DRIP_NT_PRPSINFO), prpsinfo(process))
                if let siginfo = thread.siginfo { note(&out, "CORE", UInt32(DRIP_NT_SIGINFO), siginfo) }
                if !process.auxv.isEmpty { note(&out, "CORE", UInt32(DRIP_NT_AUXV), process.auxv) }
                note(&out, "CORE", UInt32(DRIP_NT_FILE), fileNote(files))
            }
            note(&out, "CORE", UInt32(DRIP_NT_FPREGSET), thread.floatingPoint)
            if let xstate = thread.xstate { note(&out, "LINUX", UInt32(DRIP_NT_X86_XSTATE), xstate) }
        }
        return out.bytes
    }

    static func note(_ out: inout ByteWriter, _ name: String, _ type: UInt32, _ desc: [UInt8]) {
        let nameBytes = Array(name.utf8) + [0]
        out.u32(UInt32(nameBytes.count)); out.u32(UInt32(desc.count)); out.u32(type)
        out.append(nameBytes); out.pad(to: (out.count + 3) & ~3)
        out.append(desc); out.pad(to: (out.count + 3) & ~3)
    }

    static func prstatus(_ p: CapturedProcess, _ t: CapturedThread) -> [UInt8] {
        let signal = t.signal
        var info = drip_prstatus_info(pid: t.tid, ppid: p.parentPid, pgrp: p.processGroup, sid: p.session,
                                      signo: signal, code: 0, error: 0, cursig: Int16(truncatingIfNeeded: signal),
                                      sigpend: t.pendingSignals, sighold: t.blockedSignals, utime_us: 0, stime_us: 0)
        var bytes = [UInt8](repeating: 0, count: drip_prstatus_size())
        var regs = user_regs_struct()
        withUnsafeMutableBytes(of: &regs) { dst in
            t.registers.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(dst.count))) }
        }
        bytes.withUnsafeMutableBytes { drip_prstatus_fill($0.baseAddress, &info, &regs) }
        return bytes
    }

    static func prpsinfo(_ p: CapturedProcess) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: drip_prpsinfo_size())
        let args = p.commandLine.joined(separator: " ")
        p.comm.withCString { fname in
            args.withCString { argsC in
                var info = drip_prpsinfo_info(state: CChar(bitPattern: p.state.asciiValue ?? 0x53), nice: p.nice,
                                              flags: p.flags, uid: p.uid, gid: p.gid, pid: p.pid, ppid: p.parentPid,
                                              pgrp: p.processGroup, sid: p.session, fname: fname, args: argsC)
                bytes.withUnsafeMutableBytes { drip_prpsinfo_fill($0.baseAddress, &info) }
            }
        }
        return bytes
    }

    /// NT_FILE: count, page size, (start, end, file offset in pages) per file mapping, then the names.
    static func fileNote(_ regions: [Region]) -> [UInt8] {
        let files = regions.filter { $0.inode != 0 && $0.path.hasPrefix("/") }
        var out = ByteWriter()
        out.u64(UInt64(files.count)); out.u64(CoreLayout.pageSize)
        for r in files { out.u64(r.start); out.u64(r.end); out.u64(r.offset / CoreLayout.pageSize) }
        for r in files { out.append(Array(r.path.utf8) + [0]) }
        return out.bytes
    }
}

/// Little-endian byte building.
struct ByteWriter {
    var bytes: [UInt8] = []
    var count: Int { bytes.count }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func pad(to size: Int) { if bytes.count < size { bytes.append(contentsOf: repeatElement(0, count: size - bytes.count)) } }
}
