import Foundation
import XCTest

/// Where SwiftPM put the fixture programs and the drip binary: next to the test bundle.
public enum BuiltProducts {
    public static var directory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A fixture program started by a test: reads its `key=value` lines until
/// `ready`, accepts commands on stdin, and is killed when the test is done.
///
/// Started with posix_spawn, not Foundation's Process: Process takes a child
/// that closes all its file descriptors (as daemons and the `busy` fixture do)
/// for exited and blocks in wait4 on it, which stalls every later Process.
public final class FixtureProcess: @unchecked Sendable {
    public let pid: Int32
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private var buffer: [UInt8] = []
    private var reaped = false
    public private(set) var facts: [String: String] = [:]

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw FixtureError.exited }
        // Our ends must not leak into later children (they would hold the pipes open).
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0)=\($1)" }
        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, &argv, &envp)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            XCTFail("cannot start \(executable): \(String(cString: strerror(rc)))", file: file, line: line)
            throw FixtureError.exited
        }
        pid = child
        stdinFD = toChild[1]
        stdoutFD = fromChild[0]
        _ = try waitFor("ready", file: file, line: line)
    }

    /// Reads output lines until one starts with `prefix`; records key=value pairs on the way.
    @discardableResult
    public func waitFor(_ prefix: String, timeout: TimeInterval = 20, file: StaticString = #filePath,
                        line: UInt = #line) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let text = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                for pair in text.split(separator: " ") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { facts[String(kv[0])] = String(kv[1]) }
                }
                if text.hasPrefix(prefix) { return text }
                continue
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                XCTFail("fixture did not print '\(prefix)' in \(timeout)s", file: file, line: line)
                throw FixtureError.timeout
            }
            var poller = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, Int32(left * 1000)) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n <= 0 {
                XCTFail("fixture exited before printing '\(prefix)'", file: file, line: line)
                throw FixtureError.exited
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    public func send(_ command: String) {
        let bytes = Array((command + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
    }

    /// Kills the fixture (SIGTERM, then SIGKILL) and reaps it.
    public func stop() {
        guard !reaped else { return }
        reaped = true
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<200 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(10_000)
            if kill(pid, 0) != 0 { break }
        }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL); waitpid(pid, &status, 0) }
        close(stdinFD)
        close(stdoutFD)
    }

    deinit { stop() }
}

public enum FixtureError: Error { case exited, timeout }

/// Runs the real `drip` binary with a private state dir.
public struct DripRun {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public static func run(_ arguments: [String], stateDir: String, environment extra: [String: String] = [:]) throws -> DripRun {
        let p = Process()
        p.executableURL = BuiltProducts.directory.appendingPathComponent("drip")
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DRIP_STATE_DIR"] = stateDir
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes before waiting so a large output cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return DripRun(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }

    public func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON object: \(stdout.prefix(200))", file: file, line: line)
            return [:]
        }
        return object
    }
}

/// A fresh temporary directory, removed by the caller's tearDown.
public func temporaryDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "drip-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Compiles a C source into a shared library or program with the system C compiler.
public func compileC(_ source: String, output: String, flags: [String]) throws {
    let src = output + ".c"
    try source.write(toFile: src, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["cc"] + flags + ["-o", output, src]
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw FixtureError.exited }
}

/// Runs a tool (found on PATH) to the end; its stdout and stderr together.
public func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
