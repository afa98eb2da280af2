import CDripPtrace
import DripModel
import DripProc
import DripSymbols
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What to dump and where.
public struct CoreDumpRequest: Sendable {
    public enum Mode: String, Sendable, Codable {
        /// The router's `dumpcore running`: stop, fork a frozen copy, resume, dump the copy.
        case running
        /// The router's `dumpcore suspended`: the process stays stopped for the whole dump.
        case suspended
    }

    public var pid: Int32
    public var jid: Int64
    /// The process name for the file name and report.
    public var name: String
    public var mode: Mode
    public var directory: String
    public var requester: String
    public var host: String
    /// zstd level (1 = fastest).
    public var level: Int
    public var date: Date
    /// Compute the md5 of the core file while writing it (the dumper's CORE_MD5 line).
    public var checksum: Bool

    public init(pid: Int32, jid: Int64, name: String, mode: Mode = .running, directory: String,
                requester: String = "drip", host: String = DumpName.hostName(), level: Int = 1, date: Date = Date(),
                checksum: Bool = true) {
        self.pid = pid; self.jid = jid; self.name = name; self.mode = mode; self.directory = directory
        self.requester = requester; self.host = host; self.level = level; self.date = date; self.checksum = checksum
    }
}

/// What a dump produced and what it cost.
public struct CoreDumpResult: Sendable, Codable {
    public var core: String
    public var text: String
    /// Compressed size of the core file.
    public var bytes: UInt64
    /// The ELF core's size before compression.
    public var coreBytes: UInt64
    public var md5: String
    /// How long the target was stopped (first PTRACE_INTERRUPT to last detach).
    public var pauseMs: Double
    /// The clone inside the pause, when the running mode forked.
    public var forkMs: Double?
    /// The second, one-thread stop that reaps the frozen copy (running mode).
    public var reapPauseMs: Double?
    public var totalMs: Double
    public var threads: Int
    /// How the dump was taken: `running` (forked copy) or `suspended`.
    public var mode: CoreDumpRequest.Mode
    /// Anything the analyst should know (a fallback, an unreaped copy).
    public var notes: [String]
}

/// Takes ELF cores of live processes (docs/CORE.md).
///
/// Running mode: every thread is seized and interrupted (ptrace), its register
/// sets read; then one thread is made to call clone(flags = 0) (no SIGCHLD, so
/// the process never notices a child), traced so the copy starts stopped; the
/// thread's registers are put back and every thread detached. The process ran
/// again after the capture plus the clone (~15 ms per GiB of touched memory);
/// the copy, a frozen image of its memory, is dumped at leisure through
/// /proc/COPY/mem, then killed, and reaped by a wait4 injected into one thread
/// of the process (a stop of microseconds). Where the clone cannot run
/// (seccomp filter, clone failure) the dump falls back to suspended mode.
public final class CoreDumper {
    let symbolizer: Symbolizer
    let reader = ProcessReader()

    public init(symbolizer: Symbolizer = Symbolizer()) {
        self.symbolizer = symbolizer
    }

    /// - Parameter whileFrozen: called with the frozen image's pid and regions
    ///   before it goes away (the forked copy, or the stopped process itself);
    ///   its text is added to the report (the CLI puts the heap agent's summary there).
    public func dump(_ request: CoreDumpRequest,
                     whileFrozen: ((Int32, [Region]) -> String?)? = nil) throws -> CoreDumpResult {
        let started = Self.now()
        let pid = request.pid
        var notes: [String] = []
        var process = try Self.readProcess(pid)
        let seccomp = Self.statusField(pid, "Seccomp").flatMap { Int($0) } ?? 0
        if let tracer = Self.statusField(pid, "TracerPid").flatMap({ Int32($0) }), tracer != 0 {
            throw CoreDumpError.alreadyTraced(pid: pid, tracer: tracer)
        }
        var syscallAddress: UInt64?
        if request.mode == .running {
            if seccomp != 0 {
                notes.append("the process runs under seccomp (mode \(seccomp)): no clone injected, dumped suspended")
            } else {
                let maps = try mapped(try reader.regions(pid), pid)
                syscallAddress = SyscallInjector.findSyscallInstruction(pid: pid, regions: maps)
                if syscallAddress == nil { notes.append("no syscall instruction found to inject clone: dumped suspended") }
            }
        }

        // Files first: a dump that cannot be written must not stop the process.
        try DumpFiles.makeDirectory(request.directory)
        let (corePath, textPath) = Self.freshPaths(request)
        close(try DumpFiles.create(corePath))
        var keepFiles = false
        defer {
            if !keepFiles { unlink(corePath); unlink(textPath) }
        }
        let textFD = try DumpFiles.create(textPath)
        defer { close(textFD) }
        let compressor = try Compressor(path: corePath, level: request.level, checksum: request.checksum)
        defer { compressor.abort() }

        drip_signals_trap()
        defer { drip_signals_restore() }

        // ---- the pause starts ----
        let stopped = StoppedProcess(pid: pid)
        defer { stopped.release() }
        let pauseStart = Self.now()
        var pauseEnd: Double?
        try stopped.stopAll()
        var threads: [CapturedThread] = []
        for tid in stopped.tids {
            do {
                threads.append(try CapturedThread.capture(tid: tid, stopSignal: stopped.pendingSignal(tid)))
            } catch CoreDumpError.noSuchProcess { continue } // exited between stop and read
        }
        // The main thread first: gdb shows the first NT_PRSTATUS as the current thread.
        threads.sort { ($0.tid == pid ? 0 : 1, $0.tid) < ($1.tid == pid ? 0 : 1, $1.tid) }

        var child: Int32?
        var forkMs: Double?
        var reapPauseMs: Double?
        defer {
            // Whatever failed after the clone: the copy must not outlive the dump.
            if let copy = child { _ = Self.killCopy(copy, holding: stopped) }
        }
        if let address = syscallAddress, let tid = stopped.injectionThread {
            let t0 = Self.now()
            do {
                let outcome = try SyscallInjector(tid: tid, syscallAddress: address)
                    .run(Int(DRIP_SYS_CLONE), [0, 0, 0, 0, 0], traceClone: true)
                if let copy = outcome.child {
                    child = copy
                    let status = try Ptrace.wait(copy)
                    if drip_status_exited(status) != 0 { child = nil; throw CoreDumpError.noSuchProcess(pid: copy) }
                    // If drip dies now (SIGKILL), the kernel kills the copy too.
                    _ = drip_ptrace_setoptions(copy, UInt(DRIP_PTRACE_O_EXITKILL))
                } else {
                    notes.append("clone in the process failed (\(String(cString: strerror(Int32(-outcome.result))))): dumped suspended")
                }
            } catch {
                notes.append("could not inject clone (\(error)): dumped suspended")
            }
            forkMs = (Self.now() - t0) * 1000
        }
        if child != nil {
            stopped.release()
            pauseEnd = Self.now()
        }
        // ---- running mode: the process runs again ----
        let image = child ?? pid
        let mode: CoreDumpRequest.Mode = child != nil ? .running : .suspended

        let written = try writeImage(of: image, process: process, threads: threads, to: compressor)
        let (imageRegions, segments, layout, md5, stacks) =
            (written.regions, written.segments, written.layout, written.md5, written.stacks)
        let appendix = whileFrozen?(image, imageRegions)

        if let copy = child {
            child = nil
            let reap = Self.killCopy(copy, holding: stopped)
            reapPauseMs = reap.pauseMs
            if let problem = reap.problem { notes.append(problem) }
        } else {
            stopped.release()
            pauseEnd = Self.now()
        }
        // ---- the process is running and untraced; the rest is reporting ----
        let pauseMs = ((pauseEnd ?? Self.now()) - pauseStart) * 1000
        let result = CoreDumpResult(core: corePath, text: textPath, bytes: DumpFiles.fileSize(corePath),
                                    coreBytes: layout.totalSize, md5: md5, pauseMs: pauseMs,
                                    forkMs: mode == .running ? forkMs : nil, reapPauseMs: reapPauseMs,
                                    totalMs: (Self.now() - started) * 1000, threads: threads.count, mode: mode,
                                    notes: notes)
        var report = makeReport(request, process, result, imageRegions, segments, threads, stacks, appendix)
        report.result.totalMs = (Self.now() - started) * 1000
        try DumpFiles.writeAll(textFD, Array(report.text.utf8), path: textPath)
        let signal = drip_signals_caught()
        if signal != 0 { throw CoreDumpError.interrupted(signal: signal) }
        keepFiles = true
        return report.result
    }

    /// The coredump_filter decision for every mapping.
    /// `<stem>.core.zst` and `<stem>.txt` in the request's directory, with a
    /// `.N` serial added while a file of that name exists (two dumps in one second).
    static func freshPaths(_ request: CoreDumpRequest) -> (core: String, text: String) {
        let base = DumpName.stem(process: request.name, jid: request.jid, requester: request.requester,
                                 host: request.host, date: request.date)
        var stem = base
        var serial = 1
        while FileManager.default.fileExists(atPath: request.directory + "/" + stem + DumpName.coreSuffix)
            || FileManager.default.fileExists(atPath: request.directory + "/" + stem + DumpName.textSuffix) {
            serial += 1
            stem = base + ".\(serial)"
        }
        return (request.directory + "/" + stem + DumpName.coreSuffix, request.directory + "/" + stem + DumpName.textSuffix)
    }

    struct WrittenImage {
        var regions: [Region]
        var segments: [CoreSegment]
        var layout: CoreLayout
        var md5: String
        var stacks: [[StackFrame]]
    }

    /// Streams the core of `image` (the frozen copy, or the stopped process
    /// itself) into the compressor, then walks each thread's stack in the same image.
    func writeImage(of image: Int32, process: CapturedProcess, threads: [CapturedThread],
                    to compressor: Compressor) throws -> WrittenImage {
        let regions = try mapped(try reader.regions(image, perRegionUsage: true), image)
        let segments = Self.segments(regions, filter: DumpFilter(bits: process.coredumpFilter))
        let layout = CoreLayout.make(process: process, threads: threads, segments: segments)
        let memory = try ProcMemory(pid: image)
        try compressor.write(layout.prefix)
        try copySegments(layout, from: memory, to: compressor)
        let md5 = try compressor.finish()
        let walker = StackWalker(regions: regions) { memory.read($0, $1) }
        let stacks = threads.map { t in walker.walk(rip: t.register(.rip), rsp: t.register(.rsp), rbp: t.register(.rbp)) }
        return WrittenImage(regions: regions, segments: segments, layout: layout, md5: md5, stacks: stacks)
    }

    static func segments(_ regions: [Region], filter: DumpFilter) -> [CoreSegment] {
        var elfCache: [String: Bool] = [:]
        return regions.map { region in
            CoreSegment(region: region, fileSize: filter.fileSize(region) { path in
                if let known = elfCache[path] { return known }
                let isELF = startsWithELFMagic(path)
                elfCache[path] = isELF
                return isELF
            })
        }
    }

    /// Symbolizes the stacks (the process may be running again) and lays out the text report.
    func makeReport(_ request: CoreDumpRequest, _ process: CapturedProcess, _ result: CoreDumpResult,
                    _ imageRegions: [Region], _ segments: [CoreSegment], _ threads: [CapturedThread],
                    _ stacks: [[StackFrame]], _ appendix: String?) -> CoreReport {
        let pid = process.pid
        let threadNames = Dictionary(uniqueKeysWithValues: threads.map { t in
            (t.tid, DumpFiles.readText("/proc/\(pid)/task/\(t.tid)/comm")?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        })
        let moduleMap = ModuleMap(regions: imageRegions, pid: pid)
        let symbolized = stacks.map { frames -> [SymbolizedFrame] in
            // A return address points after the call: look up the call itself.
            let lookups = frames.map { $0.source == .pc ? $0.address : $0.address - 1 }
            return zip(frames, symbolizer.symbolize(lookups, in: moduleMap)).map { frame, s in
                var s = s
                s.address = frame.address
                return s
            }
        }
        let (classified, classes) = RegionClassifier.classify(imageRegions, executable: process.executable,
                                                              stackPointers: threads.map { $0.register(.rsp) })
        return CoreReport(request: request, process: process, result: result, regions: classified, classes: classes,
                          segments: segments,
                          threads: zip(threads, zip(stacks, symbolized)).map { t, s in
                              CoreReport.Thread(captured: t, name: threadNames[t.tid] ?? "", frames: s.0, symbols: s.1)
                          },
                          appendix: appendix)
    }

    /// Copies every segment's file bytes; pages that cannot be read become zeros.
    func copySegments(_ layout: CoreLayout, from memory: ProcMemory, to out: Compressor) throws {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        for (segment, _) in layout.segments where segment.fileSize > 0 {
            var address = segment.region.start
            let end = segment.region.start + segment.fileSize
            while address < end {
                let signal = drip_signals_caught()
                if signal != 0 { throw CoreDumpError.interrupted(signal: signal) }
                let count = Int(min(UInt64(chunk), end - address))
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                var got = memory.read(address, into: slice)
                while got < count {
                    // Zero the unreadable page and go on after it.
                    let pageEnd = min(count, (got + 4096) & ~4095)
                    memset(slice.baseAddress! + got, 0, pageEnd - got)
                    got = pageEnd
                    if got < count {
                        got += memory.read(address + UInt64(got), into: UnsafeMutableRawBufferPointer(rebasing: slice[got..<count]))
                    }
                }
                try out.write(UnsafeRawBufferPointer(slice))
                address += UInt64(count)
            }
        }
    }

    /// Kills the frozen copy and has the process reap it (its child, with no
    /// exit signal: only a wait with __WALL sees it). Returns the reap's pause.
    /// `holding`: the process's threads when they are still stopped (an error path).
    static func killCopy(_ copy: Int32, holding stopped: StoppedProcess) -> (pauseMs: Double?, problem: String?) {
        let parent = parentPid(copy)
        kill(copy, SIGKILL)
        // As its tracer we see it die first; then it is a zombie child of the process.
        var status: Int32 = 0
        for _ in 0..<1000 {
            let r = drip_wait(copy, &status, 0)
            if r < 0 || drip_status_exited(status) != 0 { break }
        }
        guard let parent, parent > 0 else { return (nil, nil) }
        let t0 = now()
        let holder = stopped.released ? StoppedProcess(pid: parent, only: true) : stopped
        defer { if holder !== stopped { holder.release() } }
        do {
            if holder !== stopped { try holder.stopAll() }
            guard let tid = holder.injectionThread,
                  let address = SyscallInjector.findSyscallInstruction(pid: parent, regions: (try? ProcessReader().regions(parent)) ?? [])
            else { return (nil, "the frozen copy (pid \(copy)) is a zombie until the process exits") }
            let outcome = try SyscallInjector(tid: tid, syscallAddress: address)
                .run(Int(DRIP_SYS_WAIT4), [UInt64(UInt32(bitPattern: copy)), 0, UInt64(DRIP_WALL | DRIP_WNOHANG), 0])
            if holder !== stopped { holder.release() }
            let ms = (now() - t0) * 1000
            return (holder === stopped ? nil : ms, outcome.result == Int64(copy) ? nil : "the frozen copy (pid \(copy)) was not reaped (wait4: \(outcome.result))")
        } catch {
            return (nil, "the frozen copy (pid \(copy)) is a zombie until the process exits (\(error))")
        }
    }

    static func parentPid(_ pid: Int32) -> Int32? {
        statusField(pid, "PPid").flatMap { Int32($0) }
    }

    /// Regions of a live process, or a clear error when it is gone.
    func mapped(_ regions: [Region], _ pid: Int32) throws -> [Region] {
        if regions.isEmpty { throw CoreDumpError.noSuchProcess(pid: pid) }
        return regions
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func statusField(_ pid: Int32, _ key: String) -> String? {
        guard let text = DumpFiles.readText("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static func startsWithELFMagic(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        return pread(fd, &magic, 4, 0) == 4 && magic == [0x7F, 0x45, 0x4C, 0x46]
    }

    /// The facts for NT_PRPSINFO and the report, read before the stop.
    static func readProcess(_ pid: Int32) throws -> CapturedProcess {
        guard let stat = DumpFiles.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")"),
              let open = stat.firstIndex(of: "(") else {
            if kill(pid, 0) != 0 && errno == EPERM { throw CoreDumpError.permissionDenied(pid: pid, what: "reading /proc/\(pid)") }
            throw CoreDumpError.noSuchProcess(pid: pid)
        }
        let comm = String(stat[stat.index(after: open)..<close])
        // Fields from 3 (state) on.
        let fields = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
        func field(_ n: Int) -> Int64 { n - 3 < fields.count ? Int64(fields[n - 3]) ?? 0 : 0 }
        let uids = statusField(pid, "Uid")?.split(whereSeparator: { $0 == "\t" || $0 == " " }) ?? []
        let gids = statusField(pid, "Gid")?.split(whereSeparator: { $0 == "\t" || $0 == " " }) ?? []
        let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { data in
            data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        } ?? []
        let args = cmdline.last == "" ? Array(cmdline.dropLast()) : cmdline
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        let auxv = FileManager.default.contents(atPath: "/proc/\(pid)/auxv").map { [UInt8]($0) } ?? []
        let filter = DumpFiles.readText("/proc/\(pid)/coredump_filter").flatMap(DumpFilter.parse)?.bits ?? 0x33
        return CapturedProcess(pid: pid, parentPid: Int32(field(4)), processGroup: Int32(field(5)),
                               session: Int32(field(6)), uid: uids.first.flatMap { UInt32($0) } ?? 0,
                               gid: gids.first.flatMap { UInt32($0) } ?? 0,
                               state: fields.first?.first ?? "S", nice: Int8(clamping: field(19)),
                               flags: UInt64(field(9)), comm: comm, commandLine: args,
                               executable: exe.map { $0.hasSuffix(" (deleted)") ? String($0.dropLast(10)) : $0 },
                               auxv: auxv, coredumpFilter: filter)
    }
}
