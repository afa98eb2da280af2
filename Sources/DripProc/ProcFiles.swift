#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The only place DripProc touches the file system. Raw syscalls with EINTR
/// retried; errno turned into `ProcError` so callers can tell "the process
/// exited" (skip it) from "you may not look" (say so).
struct ProcFiles: Sendable {
    let root: String

    func path(_ pid: Int32, _ file: String) -> String { "\(root)/\(pid)/\(file)" }

    /// Reads a whole file. /proc files report size 0, so read until EOF.
    func read(_ path: String, pid: Int32? = nil, sizeHint: Int = 4096) throws -> [UInt8] {
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw error(errno, path: path, pid: pid) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: max(sizeHint, 512))
        var used = 0
        while true {
            if used == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { raw in
                retrying { Glibc.read(fd, raw.baseAddress! + used, raw.count - used) }
            }
            if n < 0 { throw error(errno, path: path, pid: pid) }
            if n == 0 { break }
            used += n
        }
        buffer.removeSubrange(used...)
        return buffer
    }

    func readLink(_ path: String, pid: Int32? = nil) throws -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        if n < 0 { throw error(errno, path: path, pid: pid) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Owner of /proc/PID: the process's effective uid.
    func owner(_ pid: Int32) throws -> UInt32 {
        var st = stat()
        let p = "\(root)/\(pid)"
        if stat(p, &st) != 0 { throw error(errno, path: p, pid: pid) }
        return st.st_uid
    }

    /// Numeric entries of a /proc directory (processes, or a process's tasks).
    func numericEntries(_ path: String, pid: Int32? = nil) throws -> [Int32] {
        guard let dir = opendir(path) else { throw error(errno, path: path, pid: pid) }
        defer { closedir(dir) }
        var result: [Int32] = []
        while let entry = readdir(dir) {
            let value: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                var v: Int32 = 0
                var any = false
                for byte in raw {
                    if byte == 0 { break }
                    guard byte >= 0x30, byte <= 0x39 else { return nil }
                    v = v &* 10 &+ Int32(byte - 0x30)
                    any = true
                }
                return any ? v : nil
            }
            if let value { result.append(value) }
        }
        return result
    }

    private func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let r = call()
            if r < 0 && errno == EINTR { continue }
            return r
        }
    }

    private func error(_ code: Int32, path: String, pid: Int32?) -> ProcError {
        switch code {
        case ENOENT, ESRCH: return pid.map { .noSuchProcess(pid: $0) } ?? .io(path: path, errno: code)
        case EACCES, EPERM: return .permissionDenied(path: path)
        default: return .io(path: path, errno: code)
        }
    }
}
