import DripModel
import Foundation
import XCTest

/// Runs a program to completion and returns its stdout; fails on a non-zero exit.
func shell(_ program: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
    process.arguments = program.hasPrefix("/") ? arguments : [program] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "run", code: Int(process.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "\(program) \(arguments) exited \(process.terminationStatus)"])
    }
    return String(decoding: data, as: UTF8.self)
}

/// The fixture programs, compiled once per test run into a temporary directory.
struct Fixtures: Sendable {
    let directory: String
    let pie: String
    let noPie: String
    let library: String
    let widget: String
    let inline: String
    let sourceDirectory: String

    static let shared: Result<Fixtures, NSError> = {
        do { return .success(try build()) } catch { return .failure(error as NSError) }
    }()

    static func get() throws -> Fixtures { try shared.get() }

    private static func build() throws -> Fixtures {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/symbols").path
        let directory = NSTemporaryDirectory() + "drip-symbols-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let library = directory + "/libdripfixture.so"
        _ = try shell("cc", ["-g", "-O0", "-fPIC", "-shared", sources + "/fixturelib.c", "-o", library])
        let link = ["-L", directory, "-ldripfixture", "-Wl,-rpath," + directory]
        _ = try shell("cc", ["-g", "-O0", "-fPIE", "-pie", sources + "/fixture.c", "-o", directory + "/fixture-pie"] + link)
        _ = try shell("cc", ["-g", "-O0", "-fno-pie", "-no-pie", sources + "/fixture.c", "-o", directory + "/fixture-nopie"] + link)
        _ = try shell("g++", ["-g", "-O0", sources + "/widget.cpp", "-o", directory + "/widget"])
        _ = try shell("cc", ["-g", "-O0", "-fno-pie", "-no-pie", sources + "/inline.c", "-o", directory + "/inline"])
        return Fixtures(directory: directory, pie: directory + "/fixture-pie", noPie: directory + "/fixture-nopie",
                        library: library, widget: directory + "/widget", inline: directory + "/inline",
                        sourceDirectory: sources)
    }

    /// The line carrying `LINE:marker` in a fixture source: the line-number oracle.
    func line(of marker: String, in file: String) throws -> Int {
        let text = try String(contentsOfFile: sourceDirectory + "/" + file, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(where: {
            $0.contains("LINE:" + marker + " ") || $0.hasSuffix("LINE:" + marker)
        }) else {
            throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "no marker \(marker)"])
        }
        return index + 1
    }
}

/// A running fixture: its pid and the addresses it printed (`name 0x...` lines).
final class RunningFixture {
    let process = Process()
    private let input = Pipe()
    private(set) var addresses: [String: UInt64] = [:]

    init(_ path: String, expecting count: Int) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var text = ""
        while text.split(separator: "\n").count < count {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[1].hasPrefix("0x"), let value = UInt64(parts[1].dropFirst(2), radix: 16) {
                addresses[String(parts[0])] = value
            }
        }
    }

    var pid: Int32 { process.processIdentifier }

    deinit {
        try? input.fileHandleForWriting.close()  // the fixture exits at EOF
        process.terminate()  // and in case another child inherited the pipe's write end
        process.waitUntilExit()
    }
}

/// A minimal /proc/PID/maps reader for the tests (DripProc owns the real parser).
func readMaps(_ pid: Int32) throws -> [Region] {
    // Not String(contentsOfFile:): procfs reports size 0 and Foundation then returns
    // only the first page of the file. Read to EOF instead.
    guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/maps") else {
        throw NSError(domain: "maps", code: Int(pid))
    }
    defer { try? handle.close() }
    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    return text.split(separator: "\n").compactMap { line -> Region? in
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5 else { return nil }
        let range = fields[0].split(separator: "-")
        let perms = Array(fields[1])
        guard range.count == 2, perms.count == 4, let start = UInt64(range[0], radix: 16),
              let end = UInt64(range[1], radix: 16), let offset = UInt64(fields[2], radix: 16),
              let inode = UInt64(fields[4]) else { return nil }
        let path = fields.count > 5 ? String(fields[5]).trimmingCharacters(in: .whitespaces) : ""
        return Region(start: start, end: end,
                      permissions: .init(read: perms[0] == "r", write: perms[1] == "w", execute: perms[2] == "x",
                                         shared: perms[3] == "s"),
                      offset: offset, inode: inode, path: path)
    }
}

/// The build-id `readelf -n` prints for a file, or nil.
func readelfBuildID(_ path: String) throws -> String? {
    let output = try shell("readelf", ["-n", path])
    for line in output.split(separator: "\n") where line.contains("Build ID:") {
        return line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
    return nil
}

/// Symbol name → value from `nm` (optionally `-D`), keeping names that occur once
/// (locals of the same name in different files are ambiguous) and types `wanted`.
func nmSymbols(_ path: String, dynamic: Bool = false, wanted: Set<Character> = ["T", "t", "W", "i", "D", "d", "B", "b", "R"])
    throws -> [String: UInt64] {
    let output = try shell("nm", (dynamic ? ["-D", "--defined-only"] : ["--defined-only"]) + [path])
    var values: [String: UInt64] = [:]
    var seen: [String: Int] = [:]
    for line in output.split(separator: "\n") {
        let parts = line.split(separator: " ")
        guard parts.count == 3, let type = parts[1].first, wanted.contains(type),
              let value = UInt64(parts[0], radix: 16) else { continue }
        var name = String(parts[2])
        if dynamic {
            // Keep default versions only: `realpath@@GLIBC_2.3`, not the compat `realpath@GLIBC_2.2.5`.
            if name.contains("@@") { name = String(name.prefix { $0 != "@" }) } else if name.contains("@") { continue }
        }
        seen[name, default: 0] += 1
        values[name] = value
    }
    return values.filter { seen[$0.key] == 1 }
}

/// The path of the libc this test process runs with.
func selfLibc() throws -> String {
    let regions = try readMaps(getpid())
    guard let region = regions.first(where: { $0.path.hasSuffix("/libc.so.6") }) else {
        throw NSError(domain: "libc", code: 1)
    }
    return region.path
}

/// The test binary's own path (readelf/nm must not be given /proc/self/exe: that is them).
func selfExecutable() throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
}
