import DripModel
import DripSymbols
import Foundation

/// The `.txt` companion of a core: what the router's dumper writes beside
/// its core (process, address map, registers, traceback), as plain text.
public struct CoreReport {
    public struct Thread {
        public var captured: CapturedThread
        public var name: String
        public var frames: [StackFrame]
        public var symbols: [SymbolizedFrame]
    }

    public var request: CoreDumpRequest
    public var process: CapturedProcess
    public var result: CoreDumpResult
    public var regions: [Region]
    public var classes: [MemoryClass]
    public var segments: [CoreSegment]
    public var threads: [Thread]
    public var appendix: String?

    public var text: String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        line("drip core of \(request.name), JID \(request.jid), pid \(process.pid)")
        line("Executable:   \(process.executable ?? "?")")
        line("Command line: \(process.commandLine.joined(separator: " "))")
        line("Taken:        \(ISO8601DateFormatter().string(from: request.date)) on \(request.host), requested by \(request.requester)")
        let how = result.mode == .running
            ? "running (forked copy; clone \(Self.ms(result.forkMs ?? 0)) inside the pause)"
            : "suspended (stopped for the whole dump)"
        line("Mode:         \(how)")
        line("Pause:        \(Self.ms(result.pauseMs))" + (result.reapPauseMs.map { ", reap stop \(Self.ms($0))" } ?? "")
             + "; total \(Self.ms(result.totalMs))")
        line("Core:         \(result.core)")
        line("              \(result.bytes) bytes zstd (\(result.coreBytes) bytes ELF), md5 \(result.md5.isEmpty ? "?" : result.md5)")
        line("Filter:       coredump_filter 0x\(String(process.coredumpFilter, radix: 16)); MADV_DONTDUMP mappings left out")
        for note in result.notes { line("Note:         \(note)") }
        line()

        line("Address map (\(regions.count) mappings):")
        line(Self.pad("Address", 35) + Self.pad("Bytes", 14, right: true) + Self.pad("Dumped", 14, right: true) + "  "
             + Self.pad("What", 24) + "Path")
        for (r, c) in zip(regions, classes) {
            let dumped = dumpedBytes(r)
            line(Self.pad("0x\(Self.hex(r.start))-0x\(Self.hex(r.end))", 35) + Self.pad("\(r.size)", 14, right: true)
                 + Self.pad("\(dumped)", 14, right: true) + "  " + Self.pad(c.rawValue, 24) + r.path)
        }
        line()

        if let appendix, !appendix.isEmpty {
            out += appendix
            if !appendix.hasSuffix("\n") { line() }
            line()
        }

        line("Threads: \(threads.count). Frames: pc = saved instruction pointer, fp = frame-pointer chain,")
        line("scan = stack word pointing just after a call (likely a return address; may be stale).")
        line("For DWARF-exact stacks: zstd -d CORE && gdb EXE CORE -ex 'thread apply all bt'.")
        for (index, t) in threads.enumerated() {
            line()
            let c = t.captured
            line("Thread \(index + 1): tid \(c.tid) \"\(t.name)\"" + (c.signal != 0 ? ", signal \(c.signal)" : ""))
            let regs = Register.allCases.filter { $0 != .cs && $0 != .ss && $0 != .ds && $0 != .es && $0 != .fs && $0 != .gs }
            var row = "  "
            for (i, r) in regs.enumerated() {
                row += Self.pad(r.name, 9) + Self.hex16(c.register(r)) + "  "
                if i % 4 == 3 { line(row); row = "  " }
            }
            if row != "  " { line(row) }
            for (k, (frame, symbol)) in zip(t.frames, t.symbols).enumerated() {
                line("  #\(Self.pad(String(k), 3)) 0x\(Self.hex16(frame.address))  \(Self.pad(frame.source.rawValue, 5))\(symbol.description)")
            }
        }
        return out
    }

    /// How many of a (classified, possibly split) mapping's bytes went into the core.
    func dumpedBytes(_ r: Region) -> UInt64 {
        guard let s = segments.first(where: { $0.region.contains(r.start) }) else { return 0 }
        let dumpedEnd = s.region.start + s.fileSize
        return dumpedEnd > r.start ? min(r.end, dumpedEnd) - r.start : 0
    }

    static func ms(_ v: Double) -> String { String(format: "%.1f ms", v) }
    static func hex(_ v: UInt64) -> String { String(v, radix: 16) }
    static func hex16(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - h.count)) + h
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(1, width - s.count))
        return right ? fill + s : s + fill
    }
}
