import CDripPtrace
import DripModel
import DripProc
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one system call inside a ptrace-stopped thread of another process.
///
/// The thread's registers are saved, RIP is pointed at a `syscall`
/// instruction found in the target's own code (the vDSO's fallback paths, or
/// libc), and the thread is stepped with PTRACE_SYSCALL from the entry stop
/// to the exit stop, where the result is read and the saved registers are put
/// back. All signals are blocked in the thread meanwhile (PTRACE_SETSIGMASK)
/// so no handler can run on the borrowed registers.
///
/// A thread that was stopped inside an interrupted system call would normally
/// have that call restarted by the kernel when it resumes from the stop
/// (arch_do_signal_or_restart: rax = orig_rax, rip -= 2). The injected call
/// replaces that resumption, so the restart is done here by hand (see
/// `restarted(_:)`); CRIU's compel does the same before it runs parasite code.
struct SyscallInjector {
    let tid: Int32
    /// Address of the two bytes 0f 05.
    let syscallAddress: UInt64

    struct Outcome {
        var result: Int64
        /// The new task's pid, when the call was a clone traced with PTRACE_O_TRACECLONE.
        var child: Int32?
    }

    /// Runs `number(args...)` and restores the thread. On any failure the thread's
    /// registers and signal mask are restored before the error propagates.
    func run(_ number: Int, _ args: [UInt64], traceClone: Bool = false) throws -> Outcome {
        var saved = user_regs_struct()
        try Ptrace.check(drip_ptrace_getregs(tid, &saved), "GETREGS", tid: tid)
        var savedMask: UInt64 = 0
        try Ptrace.check(drip_ptrace_getsigmask(tid, &savedMask), "GETSIGMASK", tid: tid)
        let options = UInt(DRIP_PTRACE_O_TRACESYSGOOD) | (traceClone ? UInt(DRIP_PTRACE_O_TRACECLONE) : 0)
        try Ptrace.check(drip_ptrace_setoptions(tid, options), "SETOPTIONS", tid: tid)

        var call = saved
        call.rip = syscallAddress
        call.rax = UInt64(number)
        call.orig_rax = UInt64.max // not in a system call: no restart on resume
        let argRegs: [WritableKeyPath<user_regs_struct, UInt64>] = [\.rdi, \.rsi, \.rdx, \.r10, \.r8, \.r9]
        for (i, a) in args.prefix(6).enumerated() { call[keyPath: argRegs[i]] = a }

        var restore = Self.restarted(saved)
        var outcome = Outcome(result: 0, child: nil)
        var stoppedInside = true
        defer {
            // Restore whatever happened: the thread must be in a stop for SETREGS.
            if !stoppedInside, drip_ptrace_interrupt(tid) == 0 { _ = try? Ptrace.wait(tid, timeout: 2) }
            _ = drip_ptrace_setregs(tid, &restore)
            _ = drip_ptrace_setsigmask(tid, savedMask)
            _ = drip_ptrace_setoptions(tid, 0)
        }
        try Ptrace.check(drip_ptrace_setregs(tid, &call), "SETREGS", tid: tid)
        try Ptrace.check(drip_ptrace_setsigmask(tid, ~UInt64(0)), "SETSIGMASK", tid: tid)

        var sawEntry = false
        while true {
            stoppedInside = false
            try Ptrace.check(drip_ptrace_syscall(tid, 0), "SYSCALL", tid: tid)
            let status = try Ptrace.wait(tid)
            if drip_status_exited(status) != 0 { throw CoreDumpError.noSuchProcess(pid: tid) }
            stoppedInside = true
            let signal = drip_status_stop_signal(status)
            let event = drip_status_event(status)
            if signal == (SIGTRAP | 0x80) {
                if !sawEntry { sawEntry = true; continue }
                var after = user_regs_struct()
                try Ptrace.check(drip_ptrace_getregs(tid, &after), "GETREGS", tid: tid)
                outcome.result = Int64(bitPattern: after.rax)
                return outcome
            }
            if event == Int32(DRIP_PTRACE_EVENT_CLONE) || event == Int32(DRIP_PTRACE_EVENT_FORK) {
                var message: UInt = 0
                try Ptrace.check(drip_ptrace_geteventmsg(tid, &message), "GETEVENTMSG", tid: tid)
                outcome.child = Int32(truncatingIfNeeded: message)
                continue
            }
            if event == Int32(DRIP_PTRACE_EVENT_STOP) { continue } // a group-stop or interrupt; carry on
            // A synchronous fault at the borrowed RIP (signals are blocked otherwise):
            // suppress it and give up; the defer puts the thread back as it was.
            throw CoreDumpError.ptrace(request: "inject syscall \(number) (stopped by signal \(signal))", tid: tid, errno: EFAULT)
        }
    }

    /// The registers the thread must resume with so that an interrupted system
    /// call is restarted as the kernel would have restarted it (no handler ran).
    static func restarted(_ r: user_regs_struct) -> user_regs_struct {
        var r = r
        if Int32(truncatingIfNeeded: r.orig_rax) >= 0 {
            switch Int64(bitPattern: r.rax) {
            case -Int64(DRIP_ERESTARTSYS), -Int64(DRIP_ERESTARTNOINTR), -Int64(DRIP_ERESTARTNOHAND):
                r.rax = r.orig_rax
                r.rip &-= 2
            case -Int64(DRIP_ERESTART_RESTARTBLOCK):
                // restart_syscall(2) resumes from the thread's restart block,
                // which the injected call does not touch.
                r.rax = UInt64(DRIP_SYS_RESTART_SYSCALL)
                r.rip &-= 2
            default: break
            }
        }
        r.orig_rax = UInt64.max
        return r
    }

    /// A `syscall` instruction (0f 05) in the target's executable memory: the
    /// vDSO first (the kernel's own code, always mapped), then libc, then any text.
    static func findSyscallInstruction(pid: Int32, regions: [Region]) -> UInt64? {
        let code = regions.filter { $0.permissions.execute && $0.permissions.read }
        let ordered = code.filter { $0.path == "[vdso]" }
            + code.filter { $0.path.contains("/libc.so") || $0.path.contains("/libc-") }
            + code.filter { $0.path != "[vdso]" && !$0.path.contains("/libc") }
        for region in ordered {
            let count = Int(min(region.size, 1 << 20))
            var bytes = [UInt8](repeating: 0, count: count)
            let n = (try? bytes.withUnsafeMutableBytes { buf in
                try RemoteMemory(pid: pid).read([.init(address: region.start, count: count)], into: buf)
            })?.first ?? 0
            guard n > 1 else { continue }
            for i in 0..<(n - 1) where bytes[i] == 0x0F && bytes[i + 1] == 0x05 {
                return region.start + UInt64(i)
            }
        }
        return nil
    }
}
