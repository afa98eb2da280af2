import CDripPtrace
import DripModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension CoreDumper {
    /// The core of a process whose threads the caller already holds in ptrace
    /// stops (the supervisor at a fatal signal's signal-delivery-stop): the
    /// same files as `dump`, written from the stopped process itself, and
    /// nothing is resumed or detached. Call it from the thread that traces the
    /// process (ptrace requests only work from the tracing thread).
    ///
    /// - Parameters:
    ///   - threads: every thread of the process, all stopped by the caller.
    ///   - crashingThread: shown first (gdb's current thread), with `siginfo`
    ///     (128 bytes, from PTRACE_GETSIGINFO) as its NT_SIGINFO and pr_cursig.
    public func dumpStopped(_ request: CoreDumpRequest, threads tids: [Int32], crashingThread: Int32,
                            siginfo: [UInt8]) throws -> CoreDumpResult {
        let started = Self.now()
        let pid = request.pid
        let process = try Self.readProcess(pid)
        try DumpFiles.makeDirectory(request.directory)
        let (corePath, textPath) = Self.freshPaths(request)
        close(try DumpFiles.create(corePath))
        var keepFiles = false
        defer { if !keepFiles { unlink(corePath); unlink(textPath) } }
        let textFD = try DumpFiles.create(textPath)
        defer { close(textFD) }
        let compressor = try Compressor(path: corePath, level: request.level)
        defer { compressor.abort() }
        drip_signals_trap()
        defer { drip_signals_restore() }

        var threads: [CapturedThread] = []
        for tid in tids {
            do {
                var t = try CapturedThread.capture(tid: tid, stopSignal: 0)
                if tid == crashingThread, siginfo.count >= 4 { t.siginfo = siginfo }
                threads.append(t)
            } catch CoreDumpError.noSuchProcess { continue }
        }
        threads.sort { ($0.tid == crashingThread ? 0 : 1, $0.tid) < ($1.tid == crashingThread ? 0 : 1, $1.tid) }

        let written = try writeImage(of: pid, process: process, threads: threads, to: compressor)
        let (regions, segments, layout, md5, stacks) =
            (written.regions, written.segments, written.layout, written.md5, written.stacks)
        let signal = threads.first?.signal ?? 0
        let result = CoreDumpResult(core: corePath, text: textPath, bytes: DumpFiles.fileSize(corePath),
                                    coreBytes: layout.totalSize, md5: md5, pauseMs: (Self.now() - started) * 1000,
                                    forkMs: nil, reapPauseMs: nil, totalMs: 0, threads: threads.count,
                                    mode: .suspended,
                                    notes: ["crash: signal \(signal) in thread \(crashingThread); the process stays stopped"])
        var report = makeReport(request, process, result, regions, segments, threads, stacks, nil)
        report.result.totalMs = (Self.now() - started) * 1000
        try DumpFiles.writeAll(textFD, Array(report.text.utf8), path: textPath)
        keepFiles = true
        return report.result
    }
}
