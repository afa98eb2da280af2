import DripTestSupport
import Foundation
import XCTest

/// The heap agent end to end: fixtures leak known blocks from known functions,
/// run under `drip run`; `drip heap` must name each function, line, count and size.
final class HeapTests: XCTestCase {
    var state = ""
    var work = ""
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    override func setUpWithError() throws {
        state = try temporaryDirectory("heap-state")
        work = try temporaryDirectory("heap-work")
        let agent = BuiltProducts.path("libdrip-agent.so")
        guard FileManager.default.fileExists(atPath: agent) else {
            throw XCTSkip("no \(agent): run the tests with 'make test', which builds the agent")
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: state)
        try? FileManager.default.removeItem(atPath: work)
    }

    func drip(_ args: String...) throws -> DripRun { try DripRun.run(args, stateDir: state) }

    /// Starts `program` through `drip run`, so the agent is preloaded and the job registered.
    func runUnderAgent(_ program: String, _ args: [String] = [], runArgs: [String] = []) throws -> FixtureProcess {
        var env = ProcessInfo.processInfo.environment
        env["DRIP_STATE_DIR"] = state
        return try FixtureProcess(BuiltProducts.path("drip"), ["run"] + runArgs + ["--", program] + args, environment: env)
    }

    func compile(_ source: String, flags: [String], compiler: String = "cc") throws -> String {
        let out = work + "/" + UUID().uuidString.prefix(8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [compiler] + flags + ["-o", out, Self.fixtures.appendingPathComponent(source).path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "\(compiler) \(source)")
        return out
    }

    func callers(_ pid: Int32, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let run = try drip("heap", "pid:\(pid)", "--json")
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
        return try XCTUnwrap(try run.json()["callers"] as? [[String: Any]], file: file, line: line)
    }

    func caller(_ function: String, in callers: [[String: Any]]) -> [String: Any]? {
        callers.first { (($0["frames"] as? [[String: Any]])?.contains { ($0["function"] as? String) == function }) ?? false
            && ($0["caller"] as? String ?? "").hasPrefix(function) }
    }

    func checkCLeaker(flags: [String]) throws {
        let exe = try compile("leaker/leaker.c", flags: flags)
        let f = try runUnderAgent(exe)
        let all = try callers(f.pid)
        let lines = f.facts
        let expected: [(function: String, blocks: Int, bytes: Int, wrapper: String?, line: String?)] = [
            ("leak_node", 100, 100 * 64, nil, lines["line_node"]),
            ("leak_name", 30, 30 * 12, "strdup", lines["line_name"]),
            // calloc is hooked directly: no wrapper frame between it and the caller.
            ("leak_table", 20, 20 * 200, nil, lines["line_table"]),
        ]
        for e in expected {
            let row = try XCTUnwrap(caller(e.function, in: all), "\(e.function) in \(all.map { $0["caller"] ?? "" })")
            XCTAssertEqual(row["blocks"] as? Int, e.blocks, e.function)
            XCTAssertEqual(row["bytes"] as? Int, e.bytes, e.function)
            XCTAssertGreaterThanOrEqual(row["size"] as? Int ?? 0, e.bytes, "size includes overhead")
            let label = row["caller"] as? String ?? ""
            XCTAssertTrue(label.contains("leaker.c:\(e.line ?? "?")"), "\(label) names the line")
            XCTAssertEqual(row["wrapper"] as? String, e.wrapper, label)
            if let wrapper = e.wrapper { XCTAssertTrue(label.hasSuffix("→ \(wrapper)"), label) }
            let frame = try XCTUnwrap((row["frames"] as? [[String: Any]])?.first { $0["function"] as? String == e.function })
            XCTAssertEqual((frame["file"] as? String).map { ($0 as NSString).lastPathComponent }, "leaker.c")
            XCTAssertEqual(frame["line"] as? Int, Int(e.line ?? ""))
            XCTAssertEqual(frame["module"] as? String, exe)
        }
        XCTAssertNil(caller("churn", in: all), "freed blocks are not live")

        let heap = try drip("heap", "pid:\(f.pid)", "--json")
        let summary = try XCTUnwrap(try heap.json()["summary"] as? [String: Any])
        XCTAssertEqual(summary["reallocs"] as? Int, 500)
        XCTAssertGreaterThanOrEqual(summary["mallocs"] as? Int ?? 0, 650)
        XCTAssertGreaterThanOrEqual(summary["frees"] as? Int ?? 0, 500)
        XCTAssertEqual(summary["mode"] as? String, "exact")
    }

    func testCCallersWithFramePointers() throws {
        try checkCLeaker(flags: ["-g", "-O0", "-fno-omit-frame-pointer"])
    }

    func testCCallersWithoutFramePointers() throws {
        try checkCLeaker(flags: ["-g", "-O2", "-fomit-frame-pointer"])
    }

    func testCCallersOfANonPIEProgram() throws {
        try checkCLeaker(flags: ["-g", "-O2", "-fno-pie", "-no-pie"])
    }

    func testCppCallerIsDemangledPastOperatorNew() throws {
        let exe = try compile("leaker-cpp/leaker.cpp", flags: ["-g", "-O2"], compiler: "g++")
        let f = try runUnderAgent(exe)
        let all = try callers(f.pid)
        let row = try XCTUnwrap(all.first { ($0["caller"] as? String ?? "").hasPrefix("shop::place_order(long)") },
                                "\(all.map { $0["caller"] ?? "" })")
        XCTAssertEqual(row["blocks"] as? Int, 25)
        XCTAssertEqual(row["bytes"] as? Int, 25 * Int(f.facts["sizeof_order"] ?? "0")!)
        XCTAssertEqual(row["wrapper"] as? String, "operator new")
        XCTAssertTrue((row["caller"] as? String ?? "").contains("leaker.cpp:\(f.facts["line_order"] ?? "?")"))
    }

    func testSwiftClassInstances() throws {
        let f = try runUnderAgent(BuiltProducts.path("fixture-leaker-swift"))
        let all = try callers(f.pid)
        let row = try XCTUnwrap(all.first { ($0["caller"] as? String ?? "").contains("openSessions(_:)") },
                                "\(all.map { $0["caller"] ?? "" })")
        XCTAssertEqual(row["blocks"] as? Int, 40)
        XCTAssertEqual(row["bytes"] as? Int, 40 * Int(f.facts["instance_size"] ?? "0")!)
        XCTAssertTrue((row["caller"] as? String ?? "").contains("main.swift:\(f.facts["line_open"] ?? "?")"),
                      row["caller"] as? String ?? "")
        // Array growth is charged to the code that appended, not to the stdlib's buffer.
        XCTAssertFalse(all.contains { ($0["caller"] as? String ?? "").hasPrefix("_ContiguousArrayBuffer") },
                       "\(all.map { $0["caller"] ?? "" })")
    }

    func testSnapshotDiffShowsExactlyTheGrowth() throws {
        let exe = try compile("leaker/leaker.c", flags: ["-g", "-O2"])
        let f = try runUnderAgent(exe, runArgs: ["--name", "diff-leaker"])
        let first = try drip("heap", "snapshot", "pid:\(f.pid)", "--json")
        XCTAssertEqual(first.status, 0, first.stderr)
        f.send("leak 70")
        try f.waitFor("leaked")
        let file = work + "/after.json"
        let named = try drip("process", "diff-leaker", "--json")
        XCTAssertEqual(try named.json()["name"] as? String, "diff-leaker", "the name given to drip run --name")
        let second = try drip("heap", "snapshot", "diff-leaker", "-o", file, "--json")
        XCTAssertEqual(second.status, 0, second.stderr)
        let (a, b) = (try first.json()["id"] as? Int, try second.json()["id"] as? Int)

        let diff = try drip("heap", "diff", "\(a!)", file, "--json")
        XCTAssertEqual(diff.status, 0, diff.stderr)
        let rows = try XCTUnwrap(try diff.json()["callers"] as? [[String: Any]])
        let top = try XCTUnwrap(rows.first)
        XCTAssertTrue((top["caller"] as? String ?? "").hasPrefix("leak_more"), "\(top)")
        XCTAssertEqual(top["status"] as? String, "new")
        XCTAssertEqual(top["blocks_difference"] as? Int, 70)
        XCTAssertEqual(top["bytes_difference"] as? Int, 7000)
        let seconds = try XCTUnwrap(try diff.json()["seconds"] as? Double)
        if seconds >= 1 {
            XCTAssertEqual(Double(top["bytes_per_hour"] as? Int ?? 0), 7000 * 3600 / seconds, accuracy: 1)
        } else {
            XCTAssertNil(top["bytes_per_hour"] as? Int, "no rate from snapshots under a second apart")
        }
        for row in rows.dropFirst() {
            XCTAssertEqual(row["blocks_difference"] as? Int, 0, "\(row["caller"] ?? "") did not change")
        }
        // The file and the stored snapshot are the same snapshot.
        XCTAssertEqual(try drip("heap", "diff", "\(a!)", "\(b!)", "--json").stdout, diff.stdout)

        // One operand: the live heap against the last snapshot.
        f.send("leak 5")
        try f.waitFor("leaked")
        let live = try drip("heap", "diff", "diff-leaker", "--json")
        let liveTop = try XCTUnwrap((try live.json()["callers"] as? [[String: Any]])?.first)
        XCTAssertEqual(liveTop["blocks_difference"] as? Int, 5)
        XCTAssertEqual(liveTop["status"] as? String, "")
    }

    /// Sampled mode: a sampled block of size s stands for 1/(1-exp(-s/N)) blocks,
    /// so per-caller estimates are unbiased. 20,000 blocks of 100 bytes sampled
    /// every 4 KiB on average: about 480 samples, a relative error near 5%.
    func testSampledModeEstimates() throws {
        let exe = try compile("leaker/leaker.c", flags: ["-g", "-O2"])
        let f = try runUnderAgent(exe, runArgs: ["--sample-bytes", "4096"])
        f.send("leak 20000")
        try f.waitFor("leaked")
        let run = try drip("heap", "pid:\(f.pid)", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        let summary = try XCTUnwrap(json["summary"] as? [String: Any])
        XCTAssertEqual(summary["mode"] as? String, "sampled")
        XCTAssertEqual(summary["sample_bytes"] as? Int, 4096)
        XCTAssertGreaterThanOrEqual(summary["mallocs"] as? Int ?? 0, 20650, "call counts stay exact")
        let row = try XCTUnwrap(caller("leak_more", in: try XCTUnwrap(json["callers"] as? [[String: Any]])))
        let bytes = Double(row["bytes"] as? Int ?? 0), blocks = Double(row["blocks"] as? Int ?? 0)
        XCTAssertEqual(bytes, 2_000_000, accuracy: 2_000_000 * 0.2, "estimated bytes")
        XCTAssertEqual(blocks, 20_000, accuracy: 20_000 * 0.2, "estimated blocks")
    }

    func testBlocksListEveryLiveBlock() throws {
        let exe = try compile("leaker/leaker.c", flags: ["-g", "-O2"])
        let f = try runUnderAgent(exe)
        let run = try drip("show", "memory", "heap", "allocated", "dllname", "pid:\(f.pid)", "--json", "--limit", "0")
        XCTAssertEqual(run.status, 0, run.stderr)
        let blocks = try XCTUnwrap(try run.json()["blocks"] as? [[String: Any]])
        XCTAssertEqual(blocks.filter { ($0["caller"] as? String ?? "").hasPrefix("leak_node") }.count, 100)
        XCTAssertTrue(blocks.allSatisfy { ($0["address"] as? String ?? "").hasPrefix("0x") })
        let limited = try drip("heap", "pid:\(f.pid)", "--blocks", "--limit", "3")
        XCTAssertEqual(limited.stdout.split(separator: "\n").count, 2 + 3 + 1, limited.stdout)
    }

    func testPsAndCompareUseTheAgentsCounts() throws {
        let exe = try compile("leaker/leaker.c", flags: ["-g", "-O2"])
        let f = try runUnderAgent(exe)
        XCTAssertEqual(try drip("compare", "start").status, 0)
        f.send("leak 33")
        try f.waitFor("leaked")
        XCTAssertEqual(try drip("compare", "end").status, 0)
        let report = try drip("compare", "report", "--json")
        let rows = try XCTUnwrap(try report.json()["processes"] as? [[String: Any]])
        let row = try XCTUnwrap(rows.first { $0["pid"] as? Int == Int(f.pid) })
        XCTAssertEqual(row["mallocs"] as? Int, 33, "exactly the fixture's malloc calls")

        let ps = try drip("ps", "--json")
        let mine = try XCTUnwrap((try ps.json()["processes"] as? [[String: Any]])?.first { $0["pid"] as? Int == Int(f.pid) })
        let heap = try XCTUnwrap(mine["heap"] as? [String: Any])
        XCTAssertEqual(heap["liveBlocks"] as? Int, 150 + 33)
    }

    /// A target that churns on two threads, blocks on a third and has closed
    /// every fd: drip reads it anyway, and the quiet caller's count is exact.
    func testBusyTargetWithNoFileDescriptors() throws {
        let exe = try compile("busy/busy.c", flags: ["-g", "-O2", "-pthread"])
        let f = try runUnderAgent(exe)
        Thread.sleep(forTimeInterval: 0.3)  // the threads are churning and fds closed
        let status = try String(contentsOfFile: "/proc/\(f.pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Threads:\t4"), status)
        for _ in 0..<5 {
            let all = try callers(f.pid)
            let row = try XCTUnwrap(caller("hold_sessions", in: all), "\(all.map { $0["caller"] ?? "" })")
            XCTAssertEqual(row["blocks"] as? Int, 77)
            XCTAssertEqual(row["bytes"] as? Int, 77 * 48)
        }
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(f.pid)/fd")
        XCTAssertTrue(fds.isEmpty, "the target has no fd at all: \(fds)")
        XCTAssertNotEqual(kill(f.pid, 0), -1, "still running")
    }

    func testHeapOfAProcessWithoutTheAgent() throws {
        let f = try FixtureProcess(BuiltProducts.path("fixture-memory"), ["--tag", "no-agent"])
        let run = try drip("heap", "pid:\(f.pid)")
        XCTAssertEqual(run.status, 8)
        XCTAssertTrue(run.stderr.hasPrefix("drip: pid \(f.pid) does not run drip's heap agent"), run.stderr)
    }
}
