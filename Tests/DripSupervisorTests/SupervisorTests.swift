import DripTestSupport
import Foundation
import XCTest

/// `drip supervise` end to end: real services (C fixtures), the real drip
/// binary, real signals; gdb reads the cores.
final class SupervisorTests: XCTestCase {
    var state = ""
    var work = ""
    var supervisor: Process?
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/service")

    override func setUpWithError() throws {
        state = try temporaryDirectory("sup-state")
        work = try temporaryDirectory("sup-work")
    }

    override func tearDown() {
        if let p = supervisor, p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: state)
        try? FileManager.default.removeItem(atPath: work)
    }

    var dumps: String { work + "/dumps" }

    func drip(_ args: String...) throws -> DripRun { try DripRun.run(args, stateDir: state) }

    func compile(_ name: String) throws -> String {
        let out = work + "/" + name
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["cc", "-g", "-O0", "-fno-omit-frame-pointer", "-pthread", "-o", out,
                       Self.fixtures.appendingPathComponent(name + ".c").path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "cc \(name).c")
        return out
    }

    func requireAgent() throws {
        let agent = BuiltProducts.path("libdrip-agent.so")
        guard FileManager.default.fileExists(atPath: agent) else {
            throw XCTSkip("no \(agent): build it with 'make agent' and copy it next to drip")
        }
    }

    /// Starts `drip supervise` on `config` and waits for its control socket.
    func startSupervisor(_ config: String) throws {
        let path = work + "/supervise.toml"
        try ("dump_dir = \"\(dumps)\"\n" + config).write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = BuiltProducts.directory.appendingPathComponent("drip")
        p.arguments = ["supervise", "--config", path]
        var env = ProcessInfo.processInfo.environment
        env["DRIP_STATE_DIR"] = state
        p.environment = env
        FileManager.default.createFile(atPath: work + "/supervise.err", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: work + "/supervise.err")
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        supervisor = p
        try waitUntil("the control socket", timeout: 20) { FileManager.default.fileExists(atPath: self.state + "/supervise.sock") }
    }

    func waitUntil(_ what: String, timeout: TimeInterval = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what); supervisor log:\n\(log())")
        throw FixtureError.timeout
    }

    func log() -> String { (try? String(contentsOfFile: work + "/supervise.err", encoding: .utf8)) ?? "" }
    func dumperLog() -> String { (try? String(contentsOfFile: dumps + "/dumper.log", encoding: .utf8)) ?? "" }

    func status() throws -> [String: [String: Any]] {
        let run = try drip("supervise", "status", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let services = try XCTUnwrap(try run.json()["services"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: services.map { ($0["name"] as! String, $0) })
    }

    func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    // MARK: the limit, the dumper and the respawn

    func testLeakPastTheLimitDiesOfSIGSYSDumpsAndRespawnsUnderTheSameJid() throws {
        try requireAgent()
        let leaker = try compile("leaker")
        try startSupervisor("""
            [service.leaker]
            command = ["\(leaker)"]
            memory_limit = "16M"
            respawn = true
            max_spawns_per_minute = 12
            environment = { LEAK_ONCE = "\(work)/leaked-once" }
            """)
        try waitUntil("a respawn") { (try self.status()["leaker"]?["respawn_count"] as? Int) == 1 }
        let first = try status()["leaker"]!
        XCTAssertEqual(first["state"] as? String, "running")
        XCTAssertEqual(first["last_exit"] as? String, "signal 31 (SIGSYS)")
        XCTAssertEqual(first["memory_limit"] as? Int, 16 << 20)
        XCTAssertEqual(first["limit_kind"] as? String, "agent")
        let jid = try XCTUnwrap(first["jid"] as? Int)
        let pid = try XCTUnwrap(first["pid"] as? Int)

        // drip process: same JID, the sysmgr fields filled in.
        let process = try drip("process", "leaker", "--json")
        XCTAssertEqual(process.status, 0, process.stderr)
        let info = try process.json()
        XCTAssertEqual(info["jid"] as? Int, jid)
        XCTAssertEqual(info["pid"] as? Int, pid)
        XCTAssertEqual(info["respawn"] as? Bool, true)
        XCTAssertEqual(info["respawn_count"] as? Int, 1)
        XCTAssertEqual(info["max_spawns_per_minute"] as? Int, 12)
        XCTAssertNotNil(info["last_started"] as? String)
        XCTAssertEqual(info["memory_limit"] as? Int, 16 << 20)
        let text = try drip("process", "leaker")
        XCTAssertTrue(text.stdout.contains("Respawn                : ON") || text.stdout.range(of: #"Respawn\s+: ON"#, options: .regularExpression) != nil, text.stdout)

        // drip ps --detail: the agent's limit as Dyn-Limit.
        let ps = try drip("ps", "--detail", "--json")
        let rows = try XCTUnwrap(try ps.json()["processes"] as? [[String: Any]])
        let row = try XCTUnwrap(rows.first { $0["pid"] as? Int == pid })
        XCTAssertEqual(row["jid"] as? Int, jid)
        XCTAssertEqual(row["dyn_limit"] as? Int, 16 << 20)

        // The dumper's lines.
        let lines = dumperLog()
        XCTAssertTrue(lines.contains("%OS-DUMPER-7-DUMP_REQUEST : Dump request for process \(leaker)"), lines)
        XCTAssertTrue(lines.contains("%OS-DUMPER-4-SIGNAL_NUMBER : Thread 1 received SIGNAL 31"), lines)
        XCTAssertTrue(lines.contains("%OS-DUMPER-7-REGISTERS_INFO"), lines)
        XCTAssertNotNil(lines.range(of: #"%OS-DUMPER-7-TRACE_BACK : #\d+\s+0x[0-9a-f]+\s+leak_forever\+0x"#,
                                    options: .regularExpression), lines)

        // The core, through gdb.
        let md5Line = try XCTUnwrap(lines.split(separator: "\n").first { $0.contains("%OS-DUMPER-6-CORE_MD5") },
                                    "a core was written: \(lines)")
        let core = try XCTUnwrap(md5Line.components(separatedBy: " : ").last?.components(separatedBy: " has just been written").first)
        XCTAssertTrue((core as NSString).lastPathComponent.hasPrefix("first.leaker_\(jid)."), core)
        XCTAssertTrue(FileManager.default.fileExists(atPath: core))
        XCTAssertTrue(md5Line.range(of: #"size:\d+ md5:[0-9a-f]{32}"#, options: .regularExpression) != nil)
        let plain = work + "/leaker.core"
        try run("/usr/bin/zstd", ["-q", "-d", core, "-o", plain])
        let bt = try run("/usr/bin/gdb", ["-batch", "-ex", "bt", leaker, plain])
        XCTAssertTrue(bt.contains("leak_forever"), bt)
    }

    @discardableResult
    func run(_ tool: String, _ args: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("\(tool) not installed") }
        return try runTool(tool, args).output
    }

    // MARK: the crash loop

    func testCrashLoopIsHeldDownAfterMaxSpawnsPerMinute() throws {
        let crasher = try compile("crasher")
        try startSupervisor("""
            [service.crasher]
            command = ["\(crasher)"]
            agent = false
            max_spawns_per_minute = 3
            respawn_delay = 0
            """)
        try waitUntil("hold-down") { (try self.status()["crasher"]?["state"] as? String) == "held down" }
        let s = try status()["crasher"]!
        XCTAssertEqual(s["respawn_count"] as? Int, 2, "3 spawns: the first start and 2 respawns")
        XCTAssertNil(s["pid"] as? Int)
        XCTAssertEqual(s["last_exit"] as? String, "signal 11 (SIGSEGV)")
        XCTAssertTrue(log().contains("%OS-SYSMGR-3-HELD_DOWN"), log())
        let lines = dumperLog()
        XCTAssertEqual(lines.components(separatedBy: "%OS-DUMPER-7-DUMP_REQUEST").count - 1, 3, lines)
        XCTAssertTrue(lines.contains("received SIGNAL 11"), lines)
        XCTAssertTrue(lines.range(of: #"TRACE_BACK : #0\s+0x[0-9a-f]+\s+crash_now\+0x"#, options: .regularExpression) != nil, lines)
        // Still held down a moment later; `start` brings it back (and it crashes again).
        usleep(500_000)
        XCTAssertEqual(try status()["crasher"]?["state"] as? String, "held down")
        let start = try drip("supervise", "start", "crasher")
        XCTAssertEqual(start.status, 0, start.stderr)
        try waitUntil("a second hold-down") {
            let dumps = self.dumperLog().components(separatedBy: "%OS-DUMPER-7-DUMP_REQUEST").count - 1
            let state = try self.status()["crasher"]?["state"] as? String
            return dumps >= 6 && state == "held down"
        }
    }

    // MARK: control and shutdown

    func testStopStartRestartAndShutdownLeaveNothingBehind() throws {
        let sleeper = try compile("sleeper")
        try startSupervisor("""
            [service.sleeper]
            command = ["\(sleeper)", "fork"]
            agent = false
            memory_limit = "64M"
            grace_period = "1s"
            [service.other]
            command = ["\(sleeper)"]
            agent = false
            """)
        try waitUntil("both running") { try self.status().values.allSatisfy { $0["pid"] as? Int != nil } }
        let first = try status()
        let jid = try XCTUnwrap(first["sleeper"]?["jid"] as? Int)
        let pid1 = Int32(try XCTUnwrap(first["sleeper"]?["pid"] as? Int))
        let other = Int32(try XCTUnwrap(first["other"]?["pid"] as? Int))
        XCTAssertEqual(first["sleeper"]?["limit_kind"] as? String, "rlimit")
        // Without the agent the limit is RLIMIT_DATA, which ps --detail shows.
        let limits = try String(contentsOfFile: "/proc/\(pid1)/limits", encoding: .utf8)
        XCTAssertNotNil(limits.range(of: #"Max data size\s+67108864"#, options: .regularExpression), limits)
        let child1 = try childInGroup(pid1)

        // Table output.
        let table = try drip("supervise", "status")
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasPrefix("NAME"), table.stdout)
        for column in ["JID", "PID", "STATE", "RESPAWNS", "LAST-STARTED", "LAST-EXIT", "LIMIT"] {
            XCTAssertTrue(table.stdout.contains(column), column)
        }

        // stop: the service and its group (the child ignores SIGTERM) are gone; it stays down.
        XCTAssertEqual(try drip("supervise", "stop", "sleeper").status, 0)
        try waitUntil("sleeper stopped") { (try self.status()["sleeper"]?["state"] as? String) == "stopped" }
        try waitUntil("its processes gone") { !self.alive(pid1) && !self.alive(child1) }
        usleep(300_000)
        XCTAssertNil(try status()["sleeper"]?["pid"] as? Int)

        // start: a new pid, the same JID.
        XCTAssertEqual(try drip("supervise", "start", "sleeper").status, 0)
        try waitUntil("sleeper started") { (try self.status()["sleeper"]?["pid"] as? Int) != nil }
        let pid2 = Int32(try status()["sleeper"]!["pid"] as! Int)
        XCTAssertNotEqual(pid2, pid1)
        XCTAssertEqual(try status()["sleeper"]?["jid"] as? Int, jid)

        // restart: again a new pid and the same JID.
        XCTAssertEqual(try drip("supervise", "restart", "sleeper").status, 0)
        try waitUntil("sleeper restarted") {
            let p = try self.status()["sleeper"]?["pid"] as? Int
            return p != nil && Int32(p!) != pid2
        }
        let pid3 = Int32(try status()["sleeper"]!["pid"] as! Int)
        XCTAssertFalse(alive(pid2))
        XCTAssertEqual(try status()["sleeper"]?["jid"] as? Int, jid)
        let process = try drip("process", "pid:\(pid3)", "--json")
        XCTAssertEqual(try process.json()["jid"] as? Int, jid)
        XCTAssertEqual(try process.json()["respawn_count"] as? Int, 0, "restarts asked for are not respawns")
        let child3 = try childInGroup(pid3)

        // Unknown service.
        let unknown = try drip("supervise", "stop", "nope")
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no service named 'nope'"), unknown.stderr)

        // SIGTERM: every service and its group gone, the supervisor exits 0.
        let sup = try XCTUnwrap(supervisor)
        kill(sup.processIdentifier, SIGTERM)
        try waitUntil("the supervisor to exit", timeout: 15) { !sup.isRunning }
        XCTAssertEqual(sup.terminationStatus, 0)
        for pid in [pid3, child3, other] { XCTAssertFalse(alive(pid), "pid \(pid) survived the supervisor") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/supervise.sock"))
    }

    /// The fixture's forked child: the other member of the service's process group.
    func childInGroup(_ pid: Int32) throws -> Int32 {
        var found: Int32?
        try waitUntil("the child of \(pid)") {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            found = children.split(separator: " ").compactMap { Int32($0) }.first
            return found != nil
        }
        return found!
    }

    func testSocketRefusesWhenItsModeIsNot0600() throws {
        let sleeper = try compile("sleeper")
        try startSupervisor("""
            [service.s]
            command = ["\(sleeper)"]
            agent = false
            """)
        let socket = state + "/supervise.sock"
        var info = stat()
        XCTAssertEqual(stat(socket, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(try drip("supervise", "status").status, 0)
        chmod(socket, 0o666)
        let refused = try drip("supervise", "status")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("mode 666, not 600"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1)
        chmod(socket, 0o600)
        XCTAssertEqual(try drip("supervise", "status").status, 0)
    }

    func testNoSupervisorRunning() throws {
        let run = try drip("supervise", "status")
        XCTAssertEqual(run.status, 4, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("drip: no supervisor is running"), run.stderr)
    }

    // MARK: config errors

    func testConfigErrorsAreOneLineNamingTheKeyAndFile() throws {
        let path = work + "/bad.toml"
        try "[service.a]\ncommand = [\"/bin/true\"]\nmemory_limit = \"lots\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let run = try drip("supervise", "--config", path)
        XCTAssertEqual(run.status, 2)
        XCTAssertEqual(run.stderr, "drip: \(path): service.a.memory_limit: 'lots' is not a size like 16M, 512K, 2G or a byte count\n")

        try "[service.a]\ncommand = [\"/bin/true\"]\nrespwn = true\n".write(toFile: path, atomically: true, encoding: .utf8)
        let unknown = try drip("supervise", "--config", path)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.hasPrefix("drip: \(path): service.a.respwn: unknown key"), unknown.stderr)
        XCTAssertEqual(unknown.stderr.split(separator: "\n").count, 1)

        let missing = try drip("supervise", "--config", work + "/nope.toml")
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.toml"), missing.stderr)

        try "[service.a]\ncommand = [\"/bin/true\"]\nagent = false\n".write(toFile: path, atomically: true, encoding: .utf8)
        let ok = try drip("supervise", "--config", path, "--check")
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }
}
