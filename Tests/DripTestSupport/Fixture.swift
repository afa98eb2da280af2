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
public final class FixtureProcess: @unchecked Sendable {
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()
    public private(set) var facts: [String: String] = [:]

    public var pid: Int32 { process.processIdentifier }

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        _ = try waitFor("ready", file: file, line: line)
    }

    /// Reads output lines until one starts with `prefix`; records key=value pairs on the way.
    @discardableResult
    public func waitFor(_ prefix: String, timeout: TimeInterval = 20, file: StaticString = #filePath,
                        line: UInt = #line) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let text = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                for pair in text.split(separator: " ") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { facts[String(kv[0])] = String(kv[1]) }
                }
                if text.hasPrefix(prefix) { return text }
                continue
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                XCTFail("fixture exited before printing '\(prefix)'", file: file, line: line)
                throw FixtureError.exited
            }
            buffer.append(chunk)
        }
        XCTFail("fixture did not print '\(prefix)' in \(timeout)s", file: file, line: line)
        throw FixtureError.timeout
    }

    public func send(_ command: String) {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
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
