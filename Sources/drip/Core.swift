import ArgumentParser
import DripCoreDump
import DripHeap
import DripModel
import DripPresent
import DripStore
import Foundation

struct Core: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "Write a core of a live process (ELF, zstd) and a .txt report, pausing it only for a fork.",
        discussion: """
            drip stops every thread (ptrace), reads its registers, has one thread fork a frozen copy, and lets the \
            process run again: the pause is the fork (~15 ms per GiB of touched memory). The copy is dumped, then \
            killed and reaped. --suspended keeps the process stopped for the whole dump instead (IOS-XR 'dumpcore \
            suspended'). Files: <process>_<jid>.by.drip.<host>.<YYYYMMDD-HHMMSS>.core.zst and .txt, in -o DIR, else \
            $DRIP_DUMP_DIR, else <state dir>/dumps. Open with: zstd -d FILE.core.zst && gdb EXE FILE.core. \
            See docs/CORE.md.
            """
    )

    @OptionGroup var target: ProcessArgument

    @Flag(name: .long, help: "Keep the process stopped for the whole dump instead of dumping a forked copy.")
    var suspended = false

    @OptionGroup var files: CoreFileOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            try Self.perform(try target.selector, mode: suspended ? .suspended : .running, directory: files.directory,
                             checksum: files.md5, output: output)
        }
    }

    static func perform(_ selector: ProcessSelector, mode: CoreDumpRequest.Mode, directory: String?,
                        checksum: Bool = false, output: OutputOptions) throws {
        let job = try Machine().job(selector)
        let request = CoreDumpRequest(pid: job.process.pid, jid: job.jid.value, name: job.process.name, mode: mode,
                                      directory: directory ?? StateStore.defaultDumpDirectory(), checksum: checksum)
        let result = try CoreDumper().dump(request) { pid, regions in
            job.process.runsHeapAgent ? heapSection(pid: pid, regions: regions, dynamic: job.process.memory.dynamic) : nil
        }
        if output.json {
            print(try JSONOutput.render(CoreJSON(result, jid: job.jid.value, pid: job.process.pid)), terminator: "")
            return
        }
        let size = output.sizes
        print("Core:  \(result.core)")
        print("Text:  \(result.text)")
        print("Size:  \(size.format(result.bytes)) zstd (\(size.format(result.coreBytes)) ELF)"
              + (result.md5.isEmpty ? "" : ", md5 \(result.md5)"))
        let how = result.mode == .running ? "running, clone \(ms(result.forkMs ?? 0))" : "suspended for the whole dump"
        print("Pause: \(ms(result.pauseMs)) (\(how)); total \(ms(result.totalMs)); \(result.threads) threads")
        for note in result.notes { print("Note:  \(note)") }
    }

    /// The heap agent's summary and top callers, read from the frozen image.
    static func heapSection(pid: Int32, regions: [Region], dynamic: UInt64) -> String? {
        let agent = AgentReader()
        guard let address = try? agent.stateAddress(pid: pid, regions: regions),
              let tables = try? agent.tables(pid: pid, stateAddress: address) else { return nil }
        let report = HeapInspector().report(tables, regions: regions, dynamicBytes: dynamic)
        return HeapView.summaryText(report.summary, title: "Malloc summary (heap agent, at the time of the core):",
                                    sizes: .bytes)
            + HeapView.callersTable(Array(report.callers.prefix(20)), sizes: .bytes, stacks: false)
    }

    static func ms(_ v: Double) -> String { String(format: "%.1f ms", v) }

    struct CoreJSON: Encodable {
        var core, text, mode: String
        /// nil unless --md5.
        var md5: String?
        var bytes, coreBytes: UInt64
        var pauseMs, totalMs: Double
        var forkMs, reapPauseMs: Double?
        var threads: Int
        var jid: Int64
        var pid: Int32
        var notes: [String]

        init(_ r: CoreDumpResult, jid: Int64, pid: Int32) {
            core = r.core; text = r.text; md5 = r.md5.isEmpty ? nil : r.md5; mode = r.mode.rawValue; bytes = r.bytes; coreBytes = r.coreBytes
            pauseMs = r.pauseMs; totalMs = r.totalMs; forkMs = r.forkMs; reapPauseMs = r.reapPauseMs
            threads = r.threads; self.jid = jid; self.pid = pid; notes = r.notes
        }

        enum CodingKeys: String, CodingKey {
            case core, text, md5, mode, bytes, threads, jid, pid, notes
            case coreBytes = "core_bytes", pauseMs = "pause_ms", totalMs = "total_ms", forkMs = "fork_ms"
            case reapPauseMs = "reap_pause_ms"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(core, forKey: .core); try c.encode(text, forKey: .text); try c.encode(md5, forKey: .md5)
            try c.encode(mode, forKey: .mode); try c.encode(bytes, forKey: .bytes); try c.encode(threads, forKey: .threads)
            try c.encode(jid, forKey: .jid); try c.encode(pid, forKey: .pid); try c.encode(notes, forKey: .notes)
            try c.encode(coreBytes, forKey: .coreBytes); try c.encode(pauseMs, forKey: .pauseMs)
            try c.encode(totalMs, forKey: .totalMs); try c.encode(forkMs, forKey: .forkMs)
            try c.encode(reapPauseMs, forKey: .reapPauseMs)
        }
    }
}

/// IOS-XR spelling: `drip dumpcore running X`, `drip dumpcore suspended X`.
struct Dumpcore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dumpcore",
        abstract: "IOS-XR alias: 'dumpcore running X' = 'drip core X'; 'dumpcore suspended X' = 'drip core --suspended X'."
    )

    enum How: String, ExpressibleByArgument { case running, suspended }

    @Argument(help: "running (dump a forked copy) or suspended (keep the process stopped while dumping).")
    var how: How

    @OptionGroup var target: ProcessArgument
    @OptionGroup var files: CoreFileOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            try Core.perform(try target.selector, mode: how == .suspended ? .suspended : .running,
                             directory: files.directory, checksum: files.md5, output: output)
        }
    }
}

/// Where the dump goes and whether it is hashed: shared by `core` and `dumpcore`.
struct CoreFileOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("directory")], help: "Where to write the dump files.")
    var directory: String?

    @Flag(name: .long, help: "Also compute the core file's md5 while writing it (about 1.5 s of CPU per GiB of core).")
    var md5 = false
}
