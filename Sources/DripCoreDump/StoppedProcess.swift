import CDripPtrace
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum Ptrace {
    static func check(_ rc: Int32, _ request: String, tid: Int32) throws {
        guard rc < 0 else { return }
        switch -rc {
        case ESRCH: throw CoreDumpError.noSuchProcess(pid: tid)
        case EPERM, EACCES: throw CoreDumpError.permissionDenied(pid: tid, what: "ptrace \(request)")
        default: throw CoreDumpError.ptrace(request: request, tid: tid, errno: -rc)
        }
    }

    /// Waits (polling, so a thread stuck in D state cannot hang us) for a
    /// traced task's next state change; returns the wait status.
    static func wait(_ tid: Int32, timeout: Double = 10) throws -> Int32 {
        var status: Int32 = 0
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        var spins = 0
        while true {
            let r = drip_wait(tid, &status, 1)
            if r == tid { return status }
            if r < 0 { throw r == -ECHILD ? CoreDumpError.noSuchProcess(pid: tid) : CoreDumpError.ptrace(request: "waitpid", tid: tid, errno: -r) }
            if DispatchTime.now().uptimeNanoseconds > deadline { throw CoreDumpError.threadDidNotStop(tid: tid) }
            spins += 1
            // Spin briefly (the stop usually lands within microseconds), then sleep.
            if spins > 200 { usleep(spins > 2000 ? 1000 : 20) } else { sched_yield() }
        }
    }
}

/// All threads of a process held in ptrace stops. Seizes with PTRACE_SEIZE and
/// stops with PTRACE_INTERRUPT (no SIGSTOP is sent, so the process's parent
/// never sees a job-control stop), and `release()` always detaches every
/// thread, restoring any thread whose registers an injection changed.
/// ptrace ties a tracee to the tracing *thread*: use one instance from one thread.
final class StoppedProcess {
    let pid: Int32
    /// Seized threads in stop order; the ones that exited are dropped.
    private(set) var tids: [Int32] = []
    /// The signal a thread was stopped with when it was a real signal (to re-deliver at detach).
    private var pendingSignals: [Int32: Int32] = [:]
    /// Seize only one thread (the main one when it is alive): enough to inject a system call.
    let onlyOneThread: Bool
    /// Stop signal per thread (SIGTRAP for PTRACE_INTERRUPT, else the signal).
    private(set) var stopSignal: [Int32: Int32] = [:]
    private(set) var released = false

    init(pid: Int32, only: Bool = false) {
        self.pid = pid
        onlyOneThread = only
    }

    /// The real signal a thread was stopped with (0 for our interrupt).
    func pendingSignal(_ tid: Int32) -> Int32 { pendingSignals[tid] ?? 0 }

    /// Seizes and stops every thread, re-reading the task list until no thread
    /// appears that is not stopped (a running thread may create one meanwhile).
    func stopAll() throws {
        var seized = Set<Int32>()
        while true {
            var current = Self.taskIDs(pid)
            if onlyOneThread {
                // A zombie main thread (it called pthread_exit) cannot be stopped.
                let mainAlive = DumpFiles.readText("/proc/\(pid)/task/\(pid)/stat").map { !$0.contains(") Z ") } ?? false
                current = mainAlive && current.contains(pid) ? [pid] : Array(current.filter { $0 != pid }.prefix(1))
                if !seized.isEmpty { current = [] }
            }
            if current.isEmpty && seized.isEmpty { throw CoreDumpError.noSuchProcess(pid: pid) }
            let fresh = current.filter { !seized.contains($0) }
            if fresh.isEmpty { break }
            var interrupted: [Int32] = []
            for tid in fresh {
                seized.insert(tid)
                let rc = drip_ptrace_seize(tid, 0)
                if rc == -ESRCH { continue } // exited meanwhile
                if rc < 0 {
                    if rc == -EPERM, let tracer = Self.tracerPid(pid), tracer != 0 {
                        throw CoreDumpError.alreadyTraced(pid: pid, tracer: tracer)
                    }
                    try Ptrace.check(rc, "SEIZE", tid: tid)
                }
                tids.append(tid)
                if drip_ptrace_interrupt(tid) == 0 { interrupted.append(tid) }
            }
            for tid in interrupted {
                let status = try Ptrace.wait(tid)
                if drip_status_exited(status) != 0 {
                    tids.removeAll { $0 == tid }
                    continue
                }
                let signal = drip_status_stop_signal(status)
                let event = drip_status_event(status)
                stopSignal[tid] = signal
                if event == 0 && signal != SIGTRAP && signal != 0 {
                    // A signal-delivery-stop came before our interrupt: keep the
                    // signal and hand it back when detaching.
                    pendingSignals[tid] = signal
                }
            }
        }
        if tids.isEmpty { throw CoreDumpError.noSuchProcess(pid: pid) }
    }

    /// Detaches every thread; idempotent. Threads stopped by a real signal get it back.
    func release() {
        guard !released else { return }
        released = true
        for tid in tids {
            let rc = drip_ptrace_detach(tid, pendingSignals[tid] ?? 0)
            if rc == -ESRCH, kill(tid, 0) == 0 {
                // Not in a stop (an injection resumed it): stop it, then detach.
                if drip_ptrace_interrupt(tid) == 0, (try? Ptrace.wait(tid, timeout: 2)) != nil {
                    _ = drip_ptrace_detach(tid, 0)
                }
            }
        }
    }

    deinit { release() }

    /// The thread to run injected system calls in: the main thread if it is in
    /// an ordinary interrupt stop, else any such thread.
    var injectionThread: Int32? {
        let candidates = tids.filter { pendingSignals[$0] == nil }
        return candidates.contains(pid) ? pid : candidates.first
    }

    static func taskIDs(_ pid: Int32) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [] }
        return names.compactMap { Int32($0) }.sorted()
    }

    static func tracerPid(_ pid: Int32) -> Int32? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("TracerPid:") {
            return Int32(line.dropFirst("TracerPid:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
