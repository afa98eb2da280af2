import DripModel
@testable import DripStore
import DripTestSupport
import Foundation
import XCTest

final class JidRegistryTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try temporaryDirectory("store") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func request(_ pid: Int32, start: UInt64, key: String) -> JidRequest {
        // The description's executable is the key's program, so its service key is exe:KEY.
        JidRequest(instance: ProcessInstance(pid: pid, startTicks: start),
                   description: ProcessDescription(name: key, executable: key, commandLine: [key], cgroup: nil, uid: 0))
    }

    func testJidsAreStableAcrossCallsAndStores() throws {
        let a = request(100, start: 5, key: "/usr/sbin/a"), b = request(200, start: 6, key: "/usr/sbin/b")
        let first = try StateStore(directory: dir).assignJids(bootID: "boot1", processes: [a, b])
        let second = try StateStore(directory: dir).assignJids(bootID: "boot1", processes: [b, a])
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first[a.instance]?.jid, first[b.instance]?.jid)
    }

    func testRestartKeepsTheJid() throws {
        let store = try StateStore(directory: dir)
        let old = request(100, start: 5, key: "/usr/sbin/snmpd")
        let jid = try XCTUnwrap(store.assignJids(bootID: "b", processes: [old])[old.instance]?.jid)
        let restarted = request(150, start: 90, key: "/usr/sbin/snmpd")
        let after = try store.assignJids(bootID: "b", processes: [restarted])
        XCTAssertEqual(after[restarted.instance], JidAssignment(jid: jid, instance: 1))
    }

    func testPidReuseIsANewProcess() throws {
        let store = try StateStore(directory: dir)
        let a = request(100, start: 5, key: "/bin/a")
        let jidA = try XCTUnwrap(store.assignJids(bootID: "b", processes: [a])[a.instance]?.jid)
        // Same pid, later start time, another program: the pid was reused.
        let b = request(100, start: 500, key: "/bin/b")
        let jidB = try XCTUnwrap(store.assignJids(bootID: "b", processes: [b])[b.instance]?.jid)
        XCTAssertNotEqual(jidA, jidB)
    }

    func testInstancesOfOneProgram() throws {
        let store = try StateStore(directory: dir)
        let one = request(10, start: 1, key: "/bin/sleep"), two = request(11, start: 2, key: "/bin/sleep")
        let first = try store.assignJids(bootID: "b", processes: [two, one])
        XCTAssertEqual(first[one.instance]?.instance, 1, "the older process is instance 1")
        XCTAssertEqual(first[two.instance]?.instance, 2)
        // Instance 1 restarts while 2 keeps running: it takes back JID and number 1.
        let oneAgain = request(12, start: 3, key: "/bin/sleep")
        let second = try store.assignJids(bootID: "b", processes: [two, oneAgain])
        XCTAssertEqual(second[oneAgain.instance], first[one.instance])
        XCTAssertEqual(second[two.instance], first[two.instance])
    }

    func testAnotherBootForgetsLiveProcesses() throws {
        let store = try StateStore(directory: dir)
        let a = request(100, start: 5, key: "/bin/a")
        let before = try store.assignJids(bootID: "boot1", processes: [a])
        // After a reboot the same (pid, start) is another process of the same service: same JID.
        let after = try store.assignJids(bootID: "boot2", processes: [a])
        XCTAssertEqual(before, after)
    }

    func testCorruptDatabaseIsReportedNotOverwritten() throws {
        let path = dir + "/" + StateStore.fileName
        let garbage = Data(repeating: 0x42, count: 8192)
        try garbage.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try StateStore(directory: dir)) { error in
            guard case StoreError.corrupt(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertFalse("\(error)".contains("\n"))
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), garbage, "the file was left as it was")
    }

    func testUnwritableDirectory() throws {
        let file = dir + "/not-a-dir"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try StateStore(directory: file + "/state")) { error in
            guard case StoreError.unwritableDirectory(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, file + "/state")
        }
    }

    func testCompareSnapshotRoundTrip() throws {
        let store = try StateStore(directory: dir)
        let rows = [CompareRow(jid: Jid(3), instance: ProcessInstance(pid: 10, startTicks: 7), name: "arp", dynamic: 662916, mallocs: 2),
                    CompareRow(jid: Jid(4), instance: ProcessInstance(pid: 11, startTicks: 8), name: "exec", dynamic: 257480, mallocs: nil)]
        let snap = CompareSnapshot(name: "start", takenAt: Date(timeIntervalSince1970: 1000), bootID: "b", host: "h", rows: rows)
        try store.saveCompareSnapshot(snap)
        let back = try XCTUnwrap(try store.compareSnapshot(named: "start"))
        XCTAssertEqual(back.rows, rows)
        XCTAssertEqual(back.takenAt, snap.takenAt)
        XCTAssertNil(try store.compareSnapshot(named: "end"))
        // Replacing a snapshot replaces all its rows.
        try store.saveCompareSnapshot(CompareSnapshot(name: "start", takenAt: Date(), bootID: "b", host: "h", rows: [rows[1]]))
        XCTAssertEqual(try store.compareSnapshot(named: "start")?.rows, [rows[1]])
    }

    func testKnownProcessesKeepTheirDescription() throws {
        let store = try StateStore(directory: dir)
        var a = request(100, start: 5, key: "/usr/sbin/a")
        a.description.commandLine = ["/usr/sbin/a", "", "two words", "ünïcode"]
        a.description.cgroup = "/system.slice/a.service"
        let assigned = try store.assignJids(bootID: "b", processes: [a])
        let known = try store.knownProcesses(bootID: "b")
        XCTAssertEqual(known[a.instance]?.description, a.description)
        XCTAssertEqual(known[a.instance]?.assignment, assigned[a.instance])
        XCTAssertTrue(try store.knownProcesses(bootID: "other").isEmpty)
    }

    func testServicesGoneForTheRetentionAreForgotten() throws {
        let store = try StateStore(directory: dir)
        let old = request(100, start: 5, key: "/bin/once")
        let oldJid = try XCTUnwrap(store.assignJids(bootID: "b", processes: [old])[old.instance]?.jid)
        _ = try store.assignJids(bootID: "b", processes: [])  // it ended: last_seen is now
        // Within the retention the service keeps its JID.
        let again = request(101, start: 6, key: "/bin/once")
        XCTAssertEqual(try store.assignJids(bootID: "b", processes: [again])[again.instance]?.jid, oldJid)
        _ = try store.assignJids(bootID: "b", processes: [])
        // Age it past the retention, then let any ended process trigger the pruning.
        try store.write { db in
            try db.execute(sql: "UPDATE service SET last_seen = last_seen - ?", arguments: [StateStore.serviceRetention + 60])
        }
        let other = request(200, start: 7, key: "/bin/other")
        _ = try store.assignJids(bootID: "b", processes: [other])
        _ = try store.assignJids(bootID: "b", processes: [])
        let third = request(102, start: 8, key: "/bin/once")
        let newJid = try XCTUnwrap(store.assignJids(bootID: "b", processes: [third])[third.instance]?.jid)
        XCTAssertNotEqual(newJid, oldJid, "forgotten, then registered afresh")
        XCTAssertGreaterThan(newJid, oldJid, "JIDs are never reused")
    }

    func testDefaultDirectory() {
        XCTAssertEqual(StateStore.defaultDirectory(environment: ["DRIP_STATE_DIR": "/x"], isRoot: true), "/x")
        XCTAssertEqual(StateStore.defaultDirectory(environment: [:], isRoot: true), "/var/lib/drip")
        XCTAssertEqual(StateStore.defaultDirectory(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"], isRoot: false), "/s/drip")
        XCTAssertEqual(StateStore.defaultDirectory(environment: ["HOME": "/h"], isRoot: false), "/h/.local/state/drip")
        XCTAssertEqual(StateStore.defaultDumpDirectory(environment: ["DRIP_STATE_DIR": "/x"]), "/x/dumps")
        XCTAssertEqual(StateStore.defaultDumpDirectory(environment: ["DRIP_STATE_DIR": "/x", "DRIP_DUMP_DIR": "/d"]), "/d")
    }
}

final class CompareReportTests: XCTestCase {
    func testFlagsAndOrder() {
        func row(_ jid: Int64, _ pid: Int32, _ start: UInt64, _ dyn: UInt64, _ mallocs: UInt64? = nil) -> CompareRow {
            CompareRow(jid: Jid(jid), instance: ProcessInstance(pid: pid, startTicks: start), name: "p\(jid)", dynamic: dyn, mallocs: mallocs)
        }
        let start = CompareSnapshot(name: "start", takenAt: Date(), bootID: "b", host: "h",
                                    rows: [row(1, 10, 1, 1000, 5), row(2, 20, 2, 500), row(3, 30, 3, 800)])
        let end = CompareSnapshot(name: "end", takenAt: Date(), bootID: "b", host: "h",
                                  rows: [row(1, 10, 1, 1124, 7), row(2, 21, 9, 400), row(4, 40, 4, 100)])
        let report = CompareReport.make(start: start, end: end)
        XCTAssertEqual(report.map(\.jid.value), [1, 4, 2, 3])
        XCTAssertEqual(report.map(\.flag), [.none, .new, .restart, .exit])
        XCTAssertEqual(report[0].difference, 124)
        XCTAssertEqual(report[0].mallocs, 2)
        XCTAssertEqual(report[3].after, 0)
        XCTAssertEqual(report[3].difference, -800)
    }
}
