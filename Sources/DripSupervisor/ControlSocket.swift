import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's control socket: `STATE_DIR/supervise.sock`, mode 0600,
/// and a peer must have the supervisor's uid (SO_PEERCRED) or be root. Both
/// ends also refuse a socket whose mode lets anyone else in (someone chmod'ed it).
public enum ControlSocket {
    public static let fileName = "supervise.sock"

    public static func path(stateDirectory: String) -> String { stateDirectory + "/" + fileName }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notRunning(String)
        case badMode(path: String, mode: mode_t)
        case notOwner(path: String, owner: uid_t)
        case alreadyRunning(String)
        case pathTooLong(String)
        case system(SystemError)
        case protocolError(String)

        public var description: String {
            switch self {
            case .notRunning(let p): return "no supervisor is running (no socket at \(p)); start one with 'drip supervise --config FILE'"
            case .badMode(let p, let m):
                return "\(p) has mode \(String(m & 0o7777, radix: 8)), not 600: refusing to use a control socket others can reach"
            case .notOwner(let p, let o): return "\(p) belongs to uid \(o), not to you: refusing"
            case .alreadyRunning(let p): return "another supervisor is already running (it answers on \(p))"
            case .pathTooLong(let p): return "socket path too long: \(p)"
            case .system(let e): return e.description
            case .protocolError(let m): return "bad answer from the supervisor: \(m)"
            }
        }
    }

    static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw Failure.pathTooLong(path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }

    /// Checks that the socket is 0600 and owned by us (or we are root).
    public static func checkMode(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { throw Failure.notRunning(path) }
            throw Failure.system(SystemError("stat \(path)"))
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw Failure.notRunning(path) }
        if info.st_mode & 0o077 != 0 { throw Failure.badMode(path: path, mode: info.st_mode) }
        let me = geteuid()
        if me != 0 && info.st_uid != me { throw Failure.notOwner(path: path, owner: info.st_uid) }
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.system(SystemError("socket")) }
        var addr = try address(path)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = errno
            close(fd)
            if e == ECONNREFUSED || e == ENOENT { throw Failure.notRunning(path) }
            throw Failure.system(SystemError("connect \(path)", e))
        }
        return fd
    }

    /// Sends one request and reads the answer (client side).
    public static func send(_ request: ControlRequest, path: String, timeout: Double = 30) throws -> ControlResponse {
        try checkMode(path)
        let fd = try connect(path)
        defer { close(fd) }
        var line = try ControlResponse.encoder.encode(request)
        line.append(0x0A)
        guard writeAll(fd, line) else { throw Failure.system(SystemError("write \(path)")) }
        shutdown(fd, Int32(SHUT_WR))
        guard let answer = readLine(fd, timeout: timeout) else { throw Failure.protocolError("no answer") }
        do {
            return try ControlResponse.decoder.decode(ControlResponse.self, from: answer)
        } catch {
            throw Failure.protocolError(String(decoding: answer.prefix(200), as: UTF8.self))
        }
    }

    /// Creates the listening socket (server side). A stale socket file of a dead supervisor is replaced.
    public static func listen(path: String) throws -> Int32 {
        if access(path, F_OK) == 0 {
            if let fd = try? connect(path) {
                close(fd)
                throw Failure.alreadyRunning(path)
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure.system(SystemError("socket")) }
        var addr = try address(path)
        // The umask makes bind create the file 0600 from the start: no window where others could connect.
        let old = umask(0o177)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard r == 0 else { let e = SystemError("bind \(path)"); close(fd); throw Failure.system(e) }
        chmod(path, 0o600)
        guard Glibc.listen(fd, 16) == 0 else { let e = SystemError("listen \(path)"); close(fd); throw Failure.system(e) }
        return fd
    }

    /// The uid of a connected peer (SO_PEERCRED).
    static func peerUID(_ fd: Int32) -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (a GNU declaration Swift does not import).
        var cred: [UInt32] = [0, 0, 0]
        var length = socklen_t(12)
        let r = cred.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        guard r == 0, length == 12 else { return nil }
        return cred[1]
    }

    static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return false }
            offset += n
        }
        return true
    }

    /// Reads up to the first newline (or EOF), waiting at most `timeout` seconds in all.
    static func readLine(_ fd: Int32, timeout: Double, limit: Int = 1 << 20) -> Data? {
        var data = Data()
        let deadline = Sys.monotonicNow() + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            if let nl = data.firstIndex(of: 0x0A) { return data.prefix(upTo: nl) }
            let left = deadline - Sys.monotonicNow()
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1) * 1000) + 1)
            if r < 0 { if errno == EINTR { continue }; return nil }
            if r == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return nil }
            if n == 0 { return data.isEmpty ? nil : data }
            data.append(contentsOf: buffer[0..<n])
        }
        return nil
    }
}
