import CDripPtrace

/// One thread as captured while it was stopped: everything its notes need.
public struct CapturedThread: Sendable {
    public var tid: Int32
    /// `struct user_regs_struct` (= elf_gregset_t), 216 bytes.
    public var registers: [UInt8]
    /// `struct user_fpregs_struct` (the FXSAVE area), 512 bytes.
    public var floatingPoint: [UInt8]
    /// The XSAVE area (NT_X86_XSTATE) as the kernel returned it; nil when not available.
    public var xstate: [UInt8]?
    /// A 128-byte siginfo_t when the thread was stopped by a real signal; nil otherwise.
    public var siginfo: [UInt8]?
    public var blockedSignals: UInt64
    public var pendingSignals: UInt64

    public init(tid: Int32, registers: [UInt8], floatingPoint: [UInt8], xstate: [UInt8]? = nil,
                siginfo: [UInt8]? = nil, blockedSignals: UInt64 = 0, pendingSignals: UInt64 = 0) {
        self.tid = tid; self.registers = registers; self.floatingPoint = floatingPoint; self.xstate = xstate
        self.siginfo = siginfo; self.blockedSignals = blockedSignals; self.pendingSignals = pendingSignals
    }

    /// A general register by its `user_regs_struct` index (see `Register`).
    public func register(_ r: Register) -> UInt64 {
        let o = r.rawValue * 8
        guard registers.count >= o + 8 else { return 0 }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(registers[o + i]) << (8 * UInt64(i)) }
        return v
    }

    /// The signal number in `siginfo`, 0 when there is none.
    public var signal: Int32 {
        guard let s = siginfo, s.count >= 4 else { return 0 }
        return Int32(bitPattern: UInt32(s[0]) | UInt32(s[1]) << 8 | UInt32(s[2]) << 16 | UInt32(s[3]) << 24)
    }
}

/// `struct user_regs_struct` field order (x86-64).
public enum Register: Int, CaseIterable, Sendable {
    case r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, origRax, rip, cs, eflags, rsp, ss,
         fsBase, gsBase, ds, es, fs, gs

    public var name: String {
        switch self {
        case .origRax: return "orig_rax"
        case .fsBase: return "fs_base"
        case .gsBase: return "gs_base"
        default: return "\(self)"
        }
    }
}

/// Process-wide facts for NT_PRPSINFO and the report, read from /proc before the stop.
public struct CapturedProcess: Sendable {
    public var pid: Int32
    public var parentPid: Int32
    public var processGroup: Int32
    public var session: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var state: Character
    public var nice: Int8
    public var flags: UInt64
    /// comm (15 bytes at most).
    public var comm: String
    public var commandLine: [String]
    public var executable: String?
    /// /proc/PID/auxv as is.
    public var auxv: [UInt8]
    /// /proc/PID/coredump_filter (default 0x33).
    public var coredumpFilter: UInt32

    public init(pid: Int32, parentPid: Int32 = 0, processGroup: Int32 = 0, session: Int32 = 0, uid: UInt32 = 0,
                gid: UInt32 = 0, state: Character = "S", nice: Int8 = 0, flags: UInt64 = 0, comm: String,
                commandLine: [String], executable: String?, auxv: [UInt8] = [], coredumpFilter: UInt32 = 0x33) {
        self.pid = pid; self.parentPid = parentPid; self.processGroup = processGroup; self.session = session
        self.uid = uid; self.gid = gid; self.state = state; self.nice = nice; self.flags = flags; self.comm = comm
        self.commandLine = commandLine; self.executable = executable; self.auxv = auxv
        self.coredumpFilter = coredumpFilter
    }
}

extension CapturedThread {
    /// Reads a stopped thread's register sets. Fails only when the general registers cannot be read.
    static func capture(tid: Int32, stopSignal: Int32) throws -> CapturedThread {
        var regs = user_regs_struct()
        try Ptrace.check(drip_ptrace_getregs(tid, &regs), "GETREGS", tid: tid)
        var fp = user_fpregs_struct()
        let fpOK = drip_ptrace_getfpregs(tid, &fp) == 0
        var xstate: [UInt8]? = [UInt8](repeating: 0, count: 16384)
        let n = xstate!.withUnsafeMutableBytes { drip_ptrace_getregset(tid, UInt32(DRIP_NT_X86_XSTATE), $0.baseAddress, $0.count) }
        if n > 0 { xstate!.removeLast(xstate!.count - n) } else { xstate = nil }
        var siginfo: [UInt8]? = nil
        if stopSignal != 0 {
            var info = [UInt8](repeating: 0, count: 128)
            if info.withUnsafeMutableBytes({ drip_ptrace_getsiginfo(tid, $0.baseAddress) }) == 0 { siginfo = info }
        }
        var mask: UInt64 = 0
        _ = drip_ptrace_getsigmask(tid, &mask)
        return CapturedThread(tid: tid, registers: withUnsafeBytes(of: &regs) { Array($0) },
                              floatingPoint: fpOK ? withUnsafeBytes(of: &fp) { Array($0) } : [UInt8](repeating: 0, count: 512),
                              xstate: xstate, siginfo: siginfo, blockedSignals: mask)
    }
}
