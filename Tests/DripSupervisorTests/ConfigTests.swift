@testable import DripSupervisor
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    func parse(_ text: String) throws -> SupervisorConfig {
        try SupervisorConfig.parse(text, file: "sup.toml", defaultDumpDirectory: "/default/dumps")
    }

    func problem(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            _ = try parse(text)
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func testTheBriefsExample() throws {
        let c = try parse("""
            dump_dir = "/var/lib/drip/dumps"
            [service.snmpd]
            command = ["/usr/sbin/snmpd", "-f"]
            memory_limit = "16M"          # dynamic memory
            respawn = true
            max_spawns_per_minute = 12
            agent = true
            """)
        XCTAssertEqual(c.dumpDirectory, "/var/lib/drip/dumps")
        XCTAssertEqual(c.services, [ServiceConfig(name: "snmpd", command: ["/usr/sbin/snmpd", "-f"], memoryLimit: 16 << 20,
                                                  respawn: true, maxSpawnsPerMinute: 12, agent: true)])
    }

    func testEveryKey() throws {
        let c = try parse("""
            dump_max_bytes = "2G"
            dump_keep = 5
            [service.a]
            command = "/bin/sleep"
            args = ["100"]
            memory_limit = 1048576
            agent = false
            respawn = false
            environment = { LANG = "C", FOO = "bar baz" }
            working_dir = "/tmp"
            user = "nobody"
            grace_period = "500ms"
            respawn_delay = 2
            hold_down = "5m"
            dump = false
            """)
        let s = try XCTUnwrap(c.service(named: "a"))
        XCTAssertEqual(c.dumpDirectory, "/default/dumps", "no dump_dir: the default the caller gives")
        XCTAssertEqual(c.dumpMaxBytes, 2 << 30)
        XCTAssertEqual(c.dumpKeep, 5)
        XCTAssertEqual(s.command, ["/bin/sleep", "100"])
        XCTAssertEqual(s.memoryLimit, 1 << 20)
        XCTAssertFalse(s.agent); XCTAssertFalse(s.respawn); XCTAssertFalse(s.dump)
        XCTAssertEqual(s.environment, ["LANG": "C", "FOO": "bar baz"])
        XCTAssertEqual(s.workingDirectory, "/tmp")
        XCTAssertEqual(s.user, "nobody")
        XCTAssertEqual(s.gracePeriod, 0.5)
        XCTAssertEqual(s.respawnDelay, 2)
        XCTAssertEqual(s.holdDown, 300)
    }

    func testErrorsNameTheKey() {
        let cases: [(String, String)] = [
            ("[service.a]\ncommand = [\"/bin/true\"]\nmemory_limt = \"1M\"", "service.a.memory_limt"),
            ("[service.a]\ncommand = [\"/bin/true\"]\nmemory_limit = \"16Q\"", "service.a.memory_limit"),
            ("[service.a]\ncommand = [\"/bin/true\"]\nmax_spawns_per_minute = 0", "service.a.max_spawns_per_minute"),
            ("[service.a]\ncommand = [\"/bin/true\"]\nrespawn = \"yes\"", "service.a.respawn"),
            ("[service.a]\ncommand = []", "service.a.command"),
            ("[service.a]\nmemory_limit = \"1M\"", "service.a.command"),
            ("dump_dir = \"relative\"\n[service.a]\ncommand = [\"/bin/true\"]", "dump_dir"),
            ("dumpdir = \"/x\"\n[service.a]\ncommand = [\"/bin/true\"]", "dumpdir"),
            ("dump_dir = \"/x\"", "service"),
            ("[service.a]\ncommand = [\"/bin/true\"]\ngrace_period = \"soon\"", "service.a.grace_period"),
            ("[service.a]\ncommand = [\"/bin/true\"]\nenvironment = { A = 1 }", "service.a.environment.A"),
            ("[service.\"a b\"]\ncommand = [\"/bin/true\"]", "service.a b"),
        ]
        for (text, key) in cases {
            let e = problem(text)
            XCTAssertEqual(e?.key, key, text)
            XCTAssertFalse(e?.description.contains("\n") ?? true)
            XCTAssertTrue(e?.description.hasPrefix("sup.toml: \(key): ") ?? false, e?.description ?? "")
        }
    }

    func testSyntaxErrorNamesTheLine() {
        let e = problem("[service.a]\ncommand = [\"/bin/true\"\n")
        XCTAssertTrue(e?.description.hasPrefix("sup.toml:") ?? false)
        XCTAssertTrue(e?.description.contains("TOML syntax") ?? false)
    }

    func testDurations() {
        XCTAssertEqual(SupervisorConfig.parseDuration("5"), 5)
        XCTAssertEqual(SupervisorConfig.parseDuration("250ms"), 0.25)
        XCTAssertEqual(SupervisorConfig.parseDuration("2m"), 120)
        XCTAssertEqual(SupervisorConfig.parseDuration("1h"), 3600)
        XCTAssertNil(SupervisorConfig.parseDuration("-1s"))
        XCTAssertNil(SupervisorConfig.parseDuration("s"))
    }
}
