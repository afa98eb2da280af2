import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's log in the router's syslog style: every line goes to
/// stderr (the journal under systemd) and, for the dumper's lines, to
/// `dump_dir/dumper.log`. A log that cannot be written (disk full) is
/// reported once on stderr and never stops the supervisor.
public final class DumperLog: @unchecked Sendable {
    public let path: String?
    private var fd: Int32 = -1
    private var failed = false
    private let lock = NSLock()
    private let echo: Bool

    public init(path: String?, echo: Bool = true) {
        self.path = path
        self.echo = echo
    }

    deinit { if fd >= 0 { close(fd) } }

    /// `%OS-DUMPER-7-DUMP_REQUEST : Dump request for process /usr/bin/x`
    public static func format(facility: String = "OS", category: String = "DUMPER", severity: Int, mnemonic: String,
                              _ message: String) -> String {
        "%\(facility)-\(category)-\(severity)-\(mnemonic) : \(message)"
    }

    /// A dumper line, to stderr and dumper.log.
    public func dumper(_ severity: Int, _ mnemonic: String, _ message: String) {
        emit(Self.format(severity: severity, mnemonic: mnemonic, message), toFile: true)
    }

    /// A process manager line (`%OS-SYSMGR-...`), to stderr and dumper.log.
    public func sysmgr(_ severity: Int, _ mnemonic: String, _ message: String) {
        emit(Self.format(category: "SYSMGR", severity: severity, mnemonic: mnemonic, message), toFile: true)
    }

    static func stamp(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "MMM d HH:mm:ss.SSS"
        return f.string(from: date)
    }

    func emit(_ text: String, toFile: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let line = "\(Self.stamp()) drip-supervise[\(getpid())]: \(text)\n"
        if echo { writeAll(2, line) }
        guard toFile, let path, !failed else { return }
        if fd < 0 {
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd < 0 { fail(errno); return }
        }
        if !writeAll(fd, line) { fail(errno) }
    }

    private func fail(_ e: Int32) {
        // Reported once; later lines still reach stderr. Retried after reopen().
        failed = true
        writeAll(2, "\(Self.stamp()) drip-supervise[\(getpid())]: \(Self.format(severity: 3, mnemonic: "LOG_WRITE_ERROR", "cannot write \(path ?? "-"): \(String(cString: strerror(e))); logging to stderr only"))\n")
    }

    /// Tries the log file again (after space was freed).
    public func reopen() {
        lock.lock()
        if fd >= 0 { close(fd); fd = -1 }
        failed = false
        lock.unlock()
    }

    @discardableResult
    private func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; return false }
            offset += n
        }
        return true
    }
}

extension DumperLog {
    /// The REGISTERS_INFO block: a header row then a value row per four registers, like the router's.
    public static func registerLines(_ registers: Registers) -> [String] {
        let order = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                     "r15", "rip", "eflags", "cs", "ss", "fs_base", "gs_base", "orig_rax"]
        var lines: [String] = []
        var index = 0
        while index < order.count {
            let group = Array(order[index..<min(index + 4, order.count)])
            lines.append("      " + group.map { $0.leftPadded(to: 17) }.joined())
            lines.append("  R\(String(index).padding(toLength: 3, withPad: " ", startingAt: 0))"
                         + group.map { ("  " + String(format: "%016lx", registers[$0])).leftPadded(to: 17) }.joined())
            index += 4
        }
        return lines
    }

    /// md5 of a file (hex), read in chunks; nil when it cannot be read.
    public static func md5(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var md5 = MD5()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            md5.update(buffer[0..<n])
        }
        return md5.finish().map { String(format: "%02x", $0) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
