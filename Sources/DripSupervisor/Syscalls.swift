import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with its errno.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public init(_ call: String, _ errno: Int32 = Glibc.errno) { self.call = call; self.errno = errno }
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// The raw libc calls of the supervisor, in one place. ptrace(2) and prctl(2)
/// are variadic in glibc, which Swift cannot call, so they are looked up with
/// dlsym and called through a fixed-arity pointer: on x86-64 the variadic
/// callee reads its integer arguments from the same registers (SysV ABI).
enum Sys {
    // ptrace requests (linux/ptrace.h).
    static let PTRACE_CONT: Int32 = 7
    static let PTRACE_GETREGS: Int32 = 12
    static let PTRACE_DETACH: Int32 = 17
    static let PTRACE_SETOPTIONS: Int32 = 0x4200
    static let PTRACE_GETEVENTMSG: Int32 = 0x4201
    static let PTRACE_GETSIGINFO: Int32 = 0x4202
    static let PTRACE_SEIZE: Int32 = 0x4206
    static let PTRACE_INTERRUPT: Int32 = 0x4207
    static let PTRACE_LISTEN: Int32 = 0x4208
    static let PTRACE_O_TRACECLONE: UInt = 0x08
    static let PTRACE_O_EXITKILL: UInt = 0x100000
    static let PTRACE_EVENT_CLONE: Int32 = 3
    static let PTRACE_EVENT_STOP: Int32 = 128
    static let WALL: Int32 = 0x4000_0000
    static let PR_SET_CHILD_SUBREAPER: Int32 = 36

    private typealias PtraceFn = @convention(c) (Int32, pid_t, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int
    private typealias PrctlFn = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    private typealias CloseRangeFn = @convention(c) (UInt32, UInt32, Int32) -> Int32

    nonisolated(unsafe) private static let libc = dlopen(nil, RTLD_NOW)
    nonisolated(unsafe) private static let ptraceFn: PtraceFn = unsafeBitCast(dlsym(libc, "ptrace")!, to: PtraceFn.self)
    nonisolated(unsafe) private static let prctlFn: PrctlFn = unsafeBitCast(dlsym(libc, "prctl")!, to: PrctlFn.self)
    private static let closeRangeFnRaw: CloseRangeFn? = dlsym(libc, "close_range").map { unsafeBitCast($0, to: CloseRangeFn.self) }

    private typealias SignalfdFn = @convention(c) (Int32, UnsafePointer<sigset_t>, Int32) -> Int32
    nonisolated(unsafe) private static let signalfdFn: SignalfdFn = unsafeBitCast(dlsym(libc, "signalfd")!, to: SignalfdFn.self)

    /// close_range(2) as a plain C function pointer the forked child can call.
    static var closeRange: (@convention(c) (UInt32, UInt32, Int32) -> Int32)? { closeRangeFnRaw }

    /// signalfd(2) with SFD_CLOEXEC | SFD_NONBLOCK (glibc's GNU declarations are not imported).
    static func signalfd(_ set: inout sigset_t) -> Int32 { signalfdFn(-1, &set, Int32(O_CLOEXEC) | Int32(O_NONBLOCK)) }

    /// Sets FD_CLOEXEC (pipe2 and accept4 are not imported).
    static func closeOnExec(_ fd: Int32) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

    @discardableResult
    static func ptrace(_ request: Int32, _ tid: pid_t, _ addr: UInt = 0, _ data: UnsafeMutableRawPointer? = nil,
                       name: String) throws -> Int {
        errno = 0
        let r = ptraceFn(request, tid, UnsafeMutableRawPointer(bitPattern: addr), data)
        if r == -1 && errno != 0 { throw SystemError("ptrace(\(name), \(tid))") }
        return r
    }

    static func seize(_ tid: pid_t, options: UInt) throws {
        try ptrace(PTRACE_SEIZE, tid, 0, UnsafeMutableRawPointer(bitPattern: options), name: "SEIZE")
    }

    /// Resumes a stopped tracee, delivering `signal` (0 for none).
    static func cont(_ tid: pid_t, signal: Int32) throws {
        try ptrace(PTRACE_CONT, tid, 0, UnsafeMutableRawPointer(bitPattern: UInt(signal)), name: "CONT")
    }

    /// Lets a tracee in group-stop stay stopped while still reporting events (SIGCONT).
    static func listen(_ tid: pid_t) throws { try ptrace(PTRACE_LISTEN, tid, name: "LISTEN") }

    static func interrupt(_ tid: pid_t) throws { try ptrace(PTRACE_INTERRUPT, tid, name: "INTERRUPT") }

    static func siginfo(_ tid: pid_t) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 128)
        try buffer.withUnsafeMutableBytes { _ = try ptrace(PTRACE_GETSIGINFO, tid, 0, $0.baseAddress, name: "GETSIGINFO") }
        return buffer
    }

    /// The general registers, as the 27 words of struct user_regs_struct.
    static func registers(_ tid: pid_t) throws -> Registers {
        var words = [UInt64](repeating: 0, count: 27)
        try words.withUnsafeMutableBytes { _ = try ptrace(PTRACE_GETREGS, tid, 0, $0.baseAddress, name: "GETREGS") }
        return Registers(words: words)
    }

    static func prctl(_ option: Int32, _ arg: UInt) -> Int32 { prctlFn(option, arg, 0, 0, 0) }

    // MARK: wait statuses (the W* macros are not importable)

    static func exited(_ s: Int32) -> Bool { s & 0x7f == 0 }
    static func exitCode(_ s: Int32) -> Int32 { (s >> 8) & 0xff }
    static func signaled(_ s: Int32) -> Bool { s & 0x7f != 0 && s & 0x7f != 0x7f }
    static func termSignal(_ s: Int32) -> Int32 { s & 0x7f }
    static func coreDumped(_ s: Int32) -> Bool { s & 0x80 != 0 }
    static func stopped(_ s: Int32) -> Bool { s & 0xff == 0x7f }
    static func stopSignal(_ s: Int32) -> Int32 { (s >> 8) & 0xff }
    /// The PTRACE_EVENT_* of a stop, 0 for none.
    static func event(_ s: Int32) -> Int32 { (s >> 16) & 0xff }

    /// waitpid(-1 or pid, __WALL [| WNOHANG]), retrying EINTR. Returns (0, 0) when nothing is ready.
    static func wait(_ pid: pid_t = -1, block: Bool) -> (pid: pid_t, status: Int32)? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WALL | (block ? 0 : WNOHANG))
            if r >= 0 { return (r, status) }
            if errno == EINTR { continue }
            return nil
        }
    }

    /// The tids of a process (/proc/PID/task).
    static func threads(_ pid: pid_t) -> [pid_t] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [] }
        return names.compactMap { Int32($0) }.sorted()
    }

    /// The handler bits of /proc/PID/status (SigCgt) and the ignored ones (SigIgn).
    static func signalDispositions(_ pid: pid_t) -> (caught: UInt64, ignored: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var caught: UInt64?, ignored: UInt64?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("SigCgt:") { caught = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
            if line.hasPrefix("SigIgn:") { ignored = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
        }
        guard let caught, let ignored else { return nil }
        return (caught, ignored)
    }

    static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// struct user_regs_struct (sys/user.h, x86-64), by name.
public struct Registers: Sendable, Equatable {
    public var words: [UInt64]
    static let names = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
                        "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"]
    public init(words: [UInt64]) { self.words = words }
    public subscript(_ name: String) -> UInt64 { Self.names.firstIndex(of: name).map { words[$0] } ?? 0 }
    public var rip: UInt64 { self["rip"] }
    public var rsp: UInt64 { self["rsp"] }
    public var rbp: UInt64 { self["rbp"] }
}
