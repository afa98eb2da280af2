import DripCoreDump
import DripModel
import Foundation

/// What the supervisor knows when a service's thread sits in the
/// signal-delivery-stop of a fatal signal: every thread of the process is
/// already in a ptrace stop (the crashing one in its signal-delivery-stop, the
/// others in PTRACE_INTERRUPT / group-stop), and nothing has been freed yet.
public struct CrashDumpRequest: Sendable {
    public var pid: Int32
    /// Every thread of the process, all stopped by the supervisor (its tracer).
    public var stoppedThreads: [Int32]
    /// The thread the signal is being delivered to.
    public var crashingThread: Int32
    public var signal: Int32
    /// The 128-byte siginfo_t from PTRACE_GETSIGINFO at the signal-delivery-stop.
    public var siginfo: [UInt8]
    /// The service name (`snmpd`): the core's `<proc>` part.
    public var processName: String
    public var jid: Jid?
    public var directory: String
    /// Who asked: the `by.<requester>` part of the name.
    public var requester: String

    public init(pid: Int32, stoppedThreads: [Int32], crashingThread: Int32, signal: Int32, siginfo: [UInt8],
                processName: String, jid: Jid?, directory: String, requester: String = "drip-supervise") {
        self.pid = pid; self.stoppedThreads = stoppedThreads; self.crashingThread = crashingThread; self.signal = signal
        self.siginfo = siginfo; self.processName = processName; self.jid = jid; self.directory = directory
        self.requester = requester
    }
}

/// The files a dump produced.
public struct CrashDumpResult: Sendable {
    /// The compressed core.
    public var corePath: String
    /// The text report next to it, if one was written.
    public var reportPath: String?
    /// Process memory pages written (the router's PROC_PAGES line), if known.
    public var pages: Int?

    public init(corePath: String, reportPath: String?, pages: Int? = nil) {
        self.corePath = corePath; self.reportPath = reportPath; self.pages = pages
    }
}

/// Writes the core of a process whose threads the caller (its ptrace tracer)
/// has already stopped. Must neither resume nor detach the threads: the
/// supervisor continues the crashing thread with its signal afterwards, so the
/// process dies as it would have.
public protocol CrashDumper: Sendable {
    func dump(_ request: CrashDumpRequest) throws -> CrashDumpResult
}

/// The supervisor's side of DripCoreDump: the process is already stopped by
/// the supervisor (its tracer), so the core is written from it in place
/// (`CoreDumper.dumpStopped`), with the crashing thread first and its siginfo.
public struct CoreDumpCrashDumper: CrashDumper {
    public init() {}

    public func dump(_ request: CrashDumpRequest) throws -> CrashDumpResult {
        let core = CoreDumpRequest(pid: request.pid, jid: request.jid?.value ?? 0, name: request.processName,
                                   mode: .suspended, directory: request.directory, requester: request.requester)
        let result = try CoreDumper().dumpStopped(core, threads: request.stoppedThreads,
                                                  crashingThread: request.crashingThread, siginfo: request.siginfo)
        return CrashDumpResult(corePath: result.core, reportPath: result.text,
                               pages: Int(result.coreBytes / UInt64(sysconf(Int32(_SC_PAGESIZE)))))
    }
}
