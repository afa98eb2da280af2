@testable import DripSupervisor
import Foundation
import XCTest

final class DumpRotationTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    func dump(_ stem: String, role: DumpRotation.Role = .middle, bytes: UInt64 = 100, at offset: Double) -> DumpRotation.Dump {
        let prefix = role == .middle ? "" : role.rawValue + "."
        return DumpRotation.Dump(files: [prefix + stem + ".core.zst", prefix + stem + ".txt"], role: role, stem: stem,
                                 owner: String(stem.split(separator: ".").first!), bytes: bytes, time: t0 + offset)
    }

    func testParse() {
        let p = DumpRotation.parse("first.snmpd_12.by.drip-supervise.vm.20250101-120000.core.zst")
        XCTAssertEqual(p?.role, .first)
        XCTAssertEqual(p?.stem, "snmpd_12.by.drip-supervise.vm.20250101-120000")
        XCTAssertEqual(p?.owner, "snmpd_12")
        XCTAssertEqual(DumpRotation.parse("last.snmpd_12.by.x.h.1.txt")?.role, .last)
        XCTAssertEqual(DumpRotation.parse("snmpd_12.by.x.h.1.txt")?.role, .middle)
        XCTAssertNil(DumpRotation.parse("dumper.log"))
        XCTAssertNil(DumpRotation.parse("notes.txt"))
    }

    func testFirstDumpIsNamedFirst() {
        let new = dump("snmpd_12.by.d.h.1", at: 0)
        let plan = DumpRotation.plan(existing: [], new: new, keep: 3, maxBytes: 1 << 30)
        XCTAssertEqual(plan.newNames, ["first.snmpd_12.by.d.h.1.core.zst", "first.snmpd_12.by.d.h.1.txt"])
        XCTAssertEqual(plan.actions.count, 2)
    }

    func testSecondIsLastAndThirdDemotesThePreviousLast() {
        let first = dump("snmpd_12.by.d.h.1", role: .first, at: 0)
        let second = dump("snmpd_12.by.d.h.2", at: 10)
        let plan2 = DumpRotation.plan(existing: [first], new: second, keep: 3, maxBytes: 1 << 30)
        XCTAssertEqual(plan2.newNames.first, "last.snmpd_12.by.d.h.2.core.zst")
        XCTAssertFalse(plan2.actions.contains { if case .delete = $0 { return true }; return false })

        let last = dump("snmpd_12.by.d.h.2", role: .last, at: 10)
        let third = dump("snmpd_12.by.d.h.3", at: 20)
        let plan3 = DumpRotation.plan(existing: [first, last], new: third, keep: 3, maxBytes: 1 << 30)
        XCTAssertTrue(plan3.actions.contains(.rename(from: "last.snmpd_12.by.d.h.2.core.zst", to: "snmpd_12.by.d.h.2.core.zst")))
        XCTAssertEqual(plan3.newNames.first, "last.snmpd_12.by.d.h.3.core.zst")
    }

    func testMiddleDumpsAreCappedPerService() {
        let existing = [dump("a_1.by.d.h.0", role: .first, at: 0), dump("a_1.by.d.h.1", at: 1), dump("a_1.by.d.h.2", at: 2),
                        dump("a_1.by.d.h.3", role: .last, at: 3), dump("b_2.by.d.h.1", at: 1)]
        let plan = DumpRotation.plan(existing: existing, new: dump("a_1.by.d.h.4", at: 4), keep: 2, maxBytes: 1 << 30)
        // Middles of a_1 after the plan: 1, 2, 3 (demoted): the oldest goes; b_2's is not a_1's business.
        XCTAssertTrue(plan.actions.contains(.delete("a_1.by.d.h.1.core.zst")))
        XCTAssertTrue(plan.actions.contains(.delete("a_1.by.d.h.1.txt")))
        XCTAssertFalse(plan.actions.contains(.delete("a_1.by.d.h.2.core.zst")))
        XCTAssertFalse(plan.actions.contains { if case .delete(let n) = $0 { return n.hasPrefix("b_2") || n.hasPrefix("first.") }; return false })
    }

    func testByteCapRemovesOldestMiddlesButKeepsFirstAndLast() {
        let existing = [dump("a_1.by.d.h.0", role: .first, bytes: 100, at: 0), dump("b_2.by.d.h.1", bytes: 100, at: 1),
                        dump("a_1.by.d.h.2", bytes: 100, at: 2), dump("a_1.by.d.h.3", role: .last, bytes: 100, at: 3)]
        let plan = DumpRotation.plan(existing: existing, new: dump("a_1.by.d.h.4", bytes: 100, at: 4), keep: 10, maxBytes: 300)
        // 500 bytes: the two oldest middles (b_2 at 1, a_1 at 2) go; first, the demoted last (3) and the new last stay.
        XCTAssertTrue(plan.actions.contains(.delete("b_2.by.d.h.1.core.zst")))
        XCTAssertTrue(plan.actions.contains(.delete("a_1.by.d.h.2.core.zst")))
        XCTAssertFalse(plan.actions.contains(.delete("a_1.by.d.h.3.core.zst")))
        XCTAssertEqual(plan.bytesAfter, 300)
        XCTAssertFalse(plan.overCap)

        let tight = DumpRotation.plan(existing: [dump("a_1.by.d.h.0", role: .first, bytes: 100, at: 0)],
                                      new: dump("a_1.by.d.h.4", bytes: 100, at: 4), keep: 10, maxBytes: 150)
        XCTAssertTrue(tight.overCap, "first and last alone exceed the cap: kept, and reported")
        XCTAssertFalse(tight.actions.contains { if case .delete = $0 { return true }; return false })
    }

    func testGroupsFilesIntoDumps() {
        let dumps = DumpRotation.dumps([("first.a_1.by.d.h.0.core.zst", 10, t0), ("first.a_1.by.d.h.0.txt", 1, t0),
                                        ("dumper.log", 5, t0), ("a_1.by.d.h.1.core.zst", 10, t0 + 1)])
        XCTAssertEqual(dumps.count, 2)
        XCTAssertEqual(dumps[0].bytes, 11)
        XCTAssertEqual(dumps[0].role, .first)
    }

    func testMD5() {
        var m = MD5()
        m.update(Array("The quick brown fox jumps over the lazy dog".utf8))
        XCTAssertEqual(m.finish().map { String(format: "%02x", $0) }.joined(), "9e107d9d372bb6826bd81d3542a419d6")
        var e = MD5()
        e.update([UInt8]())
        XCTAssertEqual(e.finish().map { String(format: "%02x", $0) }.joined(), "d41d8cd98f00b204e9800998ecf8427e")
    }

    func testFollowsCall() {
        XCTAssertTrue(TraceBack.followsCall([0x90, 0x90, 0xE8, 1, 2, 3, 4]))          // call rel32
        XCTAssertTrue(TraceBack.followsCall([0x90, 0x90, 0x90, 0x90, 0x90, 0xFF, 0xD0])) // call *%rax
        XCTAssertTrue(TraceBack.followsCall([0x90, 0xFF, 0x15, 1, 2, 3, 4]))          // call *disp32(%rip)
        XCTAssertFalse(TraceBack.followsCall([0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90]))
    }
}
