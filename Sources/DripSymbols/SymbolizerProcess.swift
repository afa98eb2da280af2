#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// One long-lived `llvm-symbolizer` child in batch mode: queries go to its stdin,
/// one JSON line per query comes back on stdout.
///
/// Deadlock: a large batch fills both pipes (the child blocks writing answers we
/// are not yet reading while we block writing queries), so queries are written
/// from a separate thread while this one reads. stdin is a socketpair rather than a
/// pipe so writes use MSG_NOSIGNAL: a child that dies mid-batch gives EPIPE, not a
/// process-killing SIGPIPE, and drip never has to change the signal disposition.
final class SymbolizerProcess {
    let pid: pid_t
    private let input: Int32
    private let output: Int32
    private var pending: [UInt8] = []
    private var consumed = 0
    private var chunk = [UInt8](repeating: 0, count: 65_536)
    /// How long one read may wait for an answer before the child is declared hung.
    private let timeoutMilliseconds: Int32

    init(toolPath: String, arguments: [String], timeoutMilliseconds: Int32 = 30_000) throws {
        self.timeoutMilliseconds = timeoutMilliseconds
        var sockets: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sockets) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        var pipeEnds: [Int32] = [-1, -1]
        // pipe2(O_CLOEXEC) is not visible from Swift's Glibc module; the fds are
        // marked right after, before any spawn can inherit them.
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            close(sockets[0]); close(sockets[1])
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        defer { close(sockets[1]); close(pipeEnds[1]) }  // the child's ends
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, sockets[1], 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        // Warnings about missing debug files would otherwise need a reader too.
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        // Close every other inherited fd in the child: descriptors other code opened
        // without O_CLOEXEC (Foundation's Pipe does) would otherwise stay open in the
        // long-lived child, and e.g. a peer process would never see EOF on its stdin.
        if let closeFrom = SymbolizerProcess.addCloseFrom { _ = closeFrom(&actions, 3) }

        let argv = ([toolPath] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // Drop DEBUGINFOD_URLS: a report must not stall on network look-ups.
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        while let variable = entry.pointee {
            if !String(cString: variable).hasPrefix("DEBUGINFOD_URLS=") { environment.append(variable) }
            entry += 1
        }
        environment.append(nil)

        var child: pid_t = 0
        let status = posix_spawn(&child, toolPath, &actions, nil, argv, environment)
        guard status == 0 else {
            close(sockets[0]); close(pipeEnds[0])
            throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO)
        }
        pid = child
        input = sockets[0]
        output = pipeEnds[0]
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// glibc 2.34+ `posix_spawn_file_actions_addclosefrom_np`, looked up at run time
    /// because Swift's Glibc module does not expose GNU extensions.
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Sends every query line and returns the answers in order. Fewer answers than
    /// queries means the child died or hung; the caller falls back for the rest.
    func query(_ lines: [String]) -> [String] {
        guard !lines.isEmpty else { return [] }
        let payload = Array((lines.joined(separator: "\n") + "\n").utf8)
        let fd = input
        let written = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            SymbolizerProcess.sendAll(fd, payload)
            written.signal()
        }
        defer { written.wait() }  // payload stays alive and the fd open until the writer is done
        var answers: [String] = []
        answers.reserveCapacity(lines.count)
        while answers.count < lines.count, let line = readLine() { answers.append(line) }
        if answers.count < lines.count { terminate() }  // unblock a writer stuck on a hung child
        return answers
    }

    private static func sendAll(_ fd: Int32, _ payload: [UInt8]) {
        payload.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
                if n < 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }

    private func readLine() -> String? {
        while true {
            if let newline = pending[consumed...].firstIndex(of: 0x0a) {
                let line = String(decoding: pending[consumed..<newline], as: UTF8.self)
                consumed = newline + 1
                return line
            }
            // Drop consumed lines once per read, not once per line (that copying was quadratic).
            pending.removeSubrange(..<consumed)
            consumed = 0
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, timeoutMilliseconds)
            if ready < 0 { if errno == EINTR { continue }; return nil }
            if ready == 0 { return nil }  // hung
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return nil }  // EOF: the child exited
            pending.append(contentsOf: chunk[..<n])
        }
    }

    private var finished = false

    /// Kills and reaps the child; idempotent.
    func terminate() {
        guard !finished else { return }
        finished = true
        shutdown(input, Int32(SHUT_RDWR))
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    deinit {
        terminate()
        close(input)
        close(output)
    }
}
