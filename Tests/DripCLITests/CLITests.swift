import DripTestSupport
import Foundation
import XCTest

/// End to end: the real drip binary against real fixture processes.
final class CLITests: XCTestCase {
    var state = ""
    let fixture = BuiltProducts.path("fixture-memory")

    override func setUpWithError() throws { state = try temporaryDirectory("cli") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: state) }

    func drip(_ args: String...) throws -> DripRun { try DripRun.run(args, stateDir: state) }

    func psRows() throws -> [[String: Any]] {
        let run = try drip("ps", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(try run.json()["processes"] as? [[String: Any]])
    }

    func row(pid: Int32, in rows: [[String: Any]]) -> [String: Any]? {
        rows.first { ($0["pid"] as? Int).map(Int32.init) == pid }
    }

    func testPsJSONHasTheFixtureWithItsSizes() throws {
        let f = try FixtureProcess(fixture, ["--anon", "\(32 << 20)", "--tag", "ps-json"])
        let r = try XCTUnwrap(row(pid: f.pid, in: try psRows()))
        XCTAssertEqual(r["name"] as? String, "fixture-memory")
        for key in ["jid", "text", "data", "stack", "dynamic"] { XCTAssertNotNil(r[key] as? Int, key) }
        XCTAssertGreaterThanOrEqual(r["dynamic"] as? Int ?? 0, 32 << 20)
        XCTAssertNil(r["phy_tot"], "detail fields only with --detail")

        let detail = try drip("ps", "--json", "--detail")
        let d = try XCTUnwrap(row(pid: f.pid, in: try XCTUnwrap(try detail.json()["processes"] as? [[String: Any]])))
        XCTAssertGreaterThanOrEqual(d["phy_tot"] as? Int ?? 0, 32 << 20)
        XCTAssertTrue(d.keys.contains("dyn_limit"))
    }

    /// Growth between two runs shows, whether drip reuses unchanged processes' totals or not.
    func testPsSeesGrowthBetweenRuns() throws {
        let f = try FixtureProcess(fixture, ["--tag", "grow-between"])
        let before = try XCTUnwrap(row(pid: f.pid, in: try psRows())?["dynamic"] as? Int)
        XCTAssertEqual(row(pid: f.pid, in: try psRows())?["dynamic"] as? Int, before, "nothing changed, same number")
        f.send("grow \(6 << 20)")
        try f.waitFor("grew")
        let after = try XCTUnwrap(row(pid: f.pid, in: try psRows())?["dynamic"] as? Int)
        XCTAssertGreaterThanOrEqual(after - before, 6 << 20)
        let rescan = try drip("ps", "--json", "--rescan")
        let fresh = try XCTUnwrap(try rescan.json()["processes"] as? [[String: Any]])
        XCTAssertEqual(row(pid: f.pid, in: fresh)?["dynamic"] as? Int, after, "reused totals equal a fresh read")
    }

    func testPsTableIsSortedByDynamic() throws {
        let big = try FixtureProcess(fixture, ["--anon", "\(300 << 20)", "--tag", "sort"])
        let run = try drip("ps", "--bytes")
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines[0].split(separator: " "), ["JID", "PID", "Text", "Data", "Stack", "Dynamic", "Process"])
        let rows = lines.dropFirst(2).map { $0.split(separator: " ") }
        let dynamics = rows.map { Int($0[5])! }
        XCTAssertEqual(dynamics, dynamics.sorted(by: >), "most Dynamic first")
        let mine = try XCTUnwrap(rows.first { $0[1] == "\(big.pid)" })
        XCTAssertGreaterThanOrEqual(Int(mine[5])!, 300 << 20)
        // Every process with less Dynamic than the fixture comes after it.
        let position = rows.firstIndex { $0[1] == "\(big.pid)" }!
        XCTAssertTrue(rows[..<position].allSatisfy { Int($0[5])! >= Int(mine[5])! })

        let top = try drip("ps", "--top", "3")
        XCTAssertEqual(top.stdout.split(separator: "\n").count, 2 + 3, top.stdout)
    }

    func testJidSurvivesARealRestart() throws {
        var f = try FixtureProcess(fixture, ["--tag", "restart-me"])
        let jid = try XCTUnwrap(row(pid: f.pid, in: try psRows())?["jid"] as? Int)
        let oldPid = f.pid
        f.stop()
        f = try FixtureProcess(fixture, ["--tag", "restart-me"])
        XCTAssertNotEqual(f.pid, oldPid)
        let after = try XCTUnwrap(row(pid: f.pid, in: try psRows()))
        XCTAssertEqual(after["jid"] as? Int, jid)
        XCTAssertEqual(after["instance"] as? Int, 1)

        // A second copy running at the same time is instance 2 with its own JID.
        let twin = try FixtureProcess(fixture, ["--tag", "restart-me"])
        let rows = try psRows()
        XCTAssertEqual(row(pid: twin.pid, in: rows)?["instance"] as? Int, 2)
        XCTAssertNotEqual(row(pid: twin.pid, in: rows)?["jid"] as? Int, jid)
        XCTAssertEqual(row(pid: f.pid, in: rows)?["jid"] as? Int, jid)
    }

    func testCompareFlagsRestartExitAndNew() throws {
        let exiting = try FixtureProcess(fixture, ["--tag", "cmp-exit"])
        var restarting = try FixtureProcess(fixture, ["--tag", "cmp-restart"])
        let growing = try FixtureProcess(fixture, ["--tag", "cmp-grow"])
        let before = try psRows()
        let jid = { (pid: Int32, rows: [[String: Any]]) in self.row(pid: pid, in: rows)?["jid"] as? Int }
        let (exitJid, restartJid, growJid) = (jid(exiting.pid, before), jid(restarting.pid, before), jid(growing.pid, before))

        XCTAssertEqual(try drip("compare", "start").status, 0)
        exiting.stop()
        restarting.stop()
        restarting = try FixtureProcess(fixture, ["--tag", "cmp-restart"])
        let newcomer = try FixtureProcess(fixture, ["--tag", "cmp-new"])
        growing.send("grow \(5 << 20)")
        try growing.waitFor("grew")
        XCTAssertEqual(try drip("show", "memory", "compare", "end").status, 0)

        let report = try drip("compare", "report", "--json")
        XCTAssertEqual(report.status, 0, report.stderr)
        let rows = try XCTUnwrap(try report.json()["processes"] as? [[String: Any]])
        func find(_ jid: Int?) -> [String: Any]? { rows.first { $0["jid"] as? Int == jid } }
        XCTAssertEqual(find(exitJid)?["flag"] as? String, "exit")
        XCTAssertEqual(find(restartJid)?["flag"] as? String, "restart")
        XCTAssertEqual(find(restartJid)?["pid"] as? Int, Int(restarting.pid))
        XCTAssertEqual(find(jid(newcomer.pid, try psRows()))?["flag"] as? String, "new")
        let grew = try XCTUnwrap(find(growJid))
        XCTAssertEqual(grew["flag"] as? String, "")
        XCTAssertGreaterThanOrEqual(grew["difference"] as? Int ?? 0, 5 << 20)
        XCTAssertEqual((grew["after"] as? Int ?? 0) - (grew["before"] as? Int ?? 0), grew["difference"] as? Int)
        let differences = rows.compactMap { $0["difference"] as? Int }
        XCTAssertEqual(differences, differences.sorted(by: >), "largest growth first")

        let table = try drip("compare", "report")
        XCTAssertEqual(table.stdout.split(separator: "\n").first?.split(separator: " ").first, "JID", table.stdout)
        XCTAssertTrue(table.stdout.contains("restart/exit/new"))
    }

    func testReportWithoutSnapshotsIsAClearError() throws {
        let run = try drip("compare", "report")
        XCTAssertEqual(run.status, 4)
        XCTAssertEqual(run.stderr, "drip: no start snapshot: run 'drip compare start' first\n")
        XCTAssertEqual(run.stdout, "")
    }

    func testProcessByJidPidAndName() throws {
        let f = try FixtureProcess(fixture, ["--tag", "proc-view"])
        let jid = try XCTUnwrap(row(pid: f.pid, in: try psRows())?["jid"] as? Int)
        for selector in ["\(jid)", "pid:\(f.pid)"] {
            let run = try drip("process", selector, "--json")
            XCTAssertEqual(run.status, 0, run.stderr)
            let j = try run.json()
            XCTAssertEqual(j["jid"] as? Int, jid)
            XCTAssertEqual(j["pid"] as? Int, Int(f.pid))
            XCTAssertEqual(j["executable"] as? String, fixture)
            XCTAssertEqual(j["command_line"] as? [String], [fixture, "--tag", "proc-view"])
            XCTAssertEqual(j["instance"] as? Int, 1)
            XCTAssertTrue(j.keys.contains("respawn_count"))
        }
        let text = try drip("show", "processes", "pid:\(f.pid)")
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("Job Id"), text.stdout)
        XCTAssertTrue(text.stdout.contains("Instance #"))
    }

    func testAmbiguousAndUnknownNames() throws {
        let a = try FixtureProcess(fixture, ["--tag", "amb-1"])
        let b = try FixtureProcess(fixture, ["--tag", "amb-2"])
        let run = try drip("process", "fixture-memory")
        XCTAssertEqual(run.status, 3)
        XCTAssertTrue(run.stderr.contains("pid \(a.pid)") && run.stderr.contains("pid \(b.pid)"), run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1)

        let unknown = try drip("map", "no-such-process-name")
        XCTAssertEqual(unknown.status, 3)
        XCTAssertEqual(unknown.stderr, "drip: no process with name 'no-such-process-name'\n")
        let badPid = try drip("dll", "pid:abc")
        XCTAssertEqual(badPid.status, 2)
        XCTAssertTrue(badPid.stderr.contains("pid:abc"), badPid.stderr)
    }

    func testMapAndDll() throws {
        let f = try FixtureProcess(fixture, ["--anon", "\(8 << 20)", "--shared", "\(1 << 20)", "--tag", "map"])
        let run = try drip("map", "pid:\(f.pid)", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        let regions = try XCTUnwrap(json["regions"] as? [[String: Any]])
        let anon = try XCTUnwrap(f.facts["addr"])
        let mine = regions.first { $0["what"] as? String == "Allocated Memory" && ($0["bytes"] as? Int ?? 0) >= 8 << 20 }
        XCTAssertNotNil(mine, "the 8 MiB mapping at \(anon)")
        XCTAssertEqual(mine?["resident"] as? Int, 8 << 20, "all of it touched")
        XCTAssertTrue(regions.contains { $0["what"] as? String == "Program Text" })
        XCTAssertTrue(regions.contains { $0["what"] as? String == "Shared Memory" && $0["bytes"] as? Int == 1 << 20 })
        XCTAssertGreaterThanOrEqual(json["total_allocated_memory"] as? Int ?? 0, 8 << 20)
        XCTAssertGreaterThanOrEqual(json["total_shared_memory"] as? Int ?? 0, 1 << 20)

        let dll = try drip("show", "dll", "pid:\(f.pid)", "--json")
        XCTAssertEqual(dll.status, 0, dll.stderr)
        let libs = try XCTUnwrap(try dll.json()["libraries"] as? [[String: Any]])
        let libc = try XCTUnwrap(libs.first { ($0["path"] as? String ?? "").contains("libc.so") })
        XCTAssertGreaterThan(libc["text_size"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(libc["data_size"] as? Int ?? 0, 0)
        XCTAssertFalse(libs.contains { $0["path"] as? String == fixture }, "the program is not a DLL")
    }

    /// Another user's process: drip says permission denied in one line (exit 5), and ps leaves it out.
    func testPermissionDeniedAsAnotherUser() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("needs root and setpriv to run drip as another user")
        }
        let f = try FixtureProcess(fixture, ["--tag", "not-yours"])
        chmod(state, 0o777)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", BuiltProducts.path("drip"), "map", "pid:\(f.pid)"]
        p.environment = ["DRIP_STATE_DIR": state + "/nobody", "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 5, message)
        XCTAssertTrue(message.hasPrefix("drip: permission denied reading /proc/\(f.pid)/"), message)
        XCTAssertEqual(message.split(separator: "\n").count, 1)
    }

    func testCorruptStateDbIsOneLine() throws {
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: state + "/state.sqlite"))
        let run = try drip("ps")
        XCTAssertEqual(run.status, 7)
        XCTAssertTrue(run.stderr.hasPrefix("drip: state db \(state)/state.sqlite is corrupt"), run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1)
        XCTAssertEqual(run.stdout, "")
    }

    func testUnwritableStateDir() throws {
        let file = state + "/file"
        try Data().write(to: URL(fileURLWithPath: file))
        let run = try DripRun.run(["ps"], stateDir: file + "/sub")
        XCTAssertEqual(run.status, 7)
        XCTAssertTrue(run.stderr.hasPrefix("drip: state dir \(file)/sub is not writable"), run.stderr)
    }

    func testPsHelpDefinesTheColumns() throws {
        let run = try drip("ps", "--help")
        XCTAssertEqual(run.status, 0)
        for column in ["Text", "Data", "Stack", "Dynamic", "Dyn-Limit", "Shm-Tot", "Phy-Tot", "RLIMIT_DATA", "smaps_rollup"] {
            XCTAssertTrue(run.stdout.contains(column), "ps --help mentions \(column)")
        }
        XCTAssertTrue(run.stdout.contains("--json"))
        XCTAssertTrue(run.stdout.contains("--top"))
    }

    func testShowProcessesMemoryDetailAlias() throws {
        let run = try drip("show", "processes", "memory", "detail", "--top", "2")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("JID  "), run.stdout)
        XCTAssertTrue(run.stdout.contains("Dyn-Limit"), run.stdout)
    }
}
