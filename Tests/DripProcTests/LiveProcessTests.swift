import DripModel
import DripProc
import DripSymbols
import DripTestSupport
import Foundation
import XCTest

/// Checks the columns against what a real fixture process did, and against the kernel's own counters.
final class LiveProcessTests: XCTestCase {
    let reader = ProcessReader(dataSegmentEnd: DataSegmentCache().dataSegmentEnd)
    let mib: UInt64 = 1 << 20
    let page: UInt64 = 4096

    func memory(_ fixture: FixtureProcess) throws -> MemoryTotals {
        let record = try XCTUnwrap(try reader.process(fixture.pid, detail: .all))
        return record.memory
    }

    func testColumnsFollowWhatTheFixtureMapped() throws {
        let dir = try temporaryDirectory("proc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lib = dir + "/libfixturedata.so"
        // 64 KiB of initialised data and 256 KiB of .bss: DLL Data must grow by at least that.
        try compileC("char fixture_data[65536] = {1}; char fixture_bss[262144]; int fixture_fn(void) { return fixture_data[0] + fixture_bss[0]; }",
                     output: lib, flags: ["-shared", "-fPIC"])

        let base = try FixtureProcess(BuiltProducts.path("fixture-memory"))
        let loaded = try FixtureProcess(BuiltProducts.path("fixture-memory"), [
            "--heap", "\(8 * mib)", "--anon", "\(16 * mib)", "--threads", "3", "--thread-stack", "\(mib)",
            "--shared", "\(4 * mib)", "--library", lib,
        ])
        let before = try memory(base)
        let after = try memory(loaded)

        // Heap: 8 MiB of 4 KiB mallocs (+16 B of chunk overhead each) and 16 MiB of mmap.
        // The first mallocs fill the free part of the initial 132 KiB heap, which
        // the idle fixture has mapped too.
        let dynamicGrowth = Int64(after.dynamic) - Int64(before.dynamic)
        let expected = Int64(24 * mib)
        XCTAssertGreaterThanOrEqual(dynamicGrowth, expected - 132 * 1024, "Dynamic grew \(dynamicGrowth)")
        XCTAssertLessThanOrEqual(dynamicGrowth, expected + Int64(mib), "Dynamic grew \(dynamicGrowth)")
        XCTAssertGreaterThanOrEqual(after.dynamicResident, 24 * mib, "touched pages are resident")
        XCTAssertLessThanOrEqual(after.dynamicResident, after.dynamic)

        // Three 1 MiB thread stacks; glibc may round by a page or take the guard out of the size.
        let stackGrowth = Int64(after.stack) - Int64(before.stack)
        XCTAssertGreaterThanOrEqual(stackGrowth, Int64(3 * mib - 3 * page), "Stack grew \(stackGrowth)")
        XCTAssertLessThanOrEqual(stackGrowth, Int64(3 * mib + 3 * page), "Stack grew \(stackGrowth)")

        XCTAssertEqual(after.shared - before.shared, 4 * mib, "exactly the shared mapping")
        let dataGrowth = Int64(after.data) - Int64(before.data)
        XCTAssertGreaterThanOrEqual(dataGrowth, Int64(64 * 1024 + 256 * 1024))
        XCTAssertLessThanOrEqual(dataGrowth, Int64(64 * 1024 + 256 * 1024 + 8 * page))
        XCTAssertGreaterThan(after.text, before.text, "the library's code counts as Text")
        XCTAssertGreaterThanOrEqual(after.resident, 24 * mib + 4 * mib)
    }

    /// The kernel's VmData counts private writable non-stack mappings: our Data +
    /// Dynamic + thread stacks must add up to it exactly; VmSize to Virtual.
    func testTotalsAgreeWithTheKernel() throws {
        let fixture = try FixtureProcess(BuiltProducts.path("fixture-memory"), [
            "--heap", "\(2 * mib)", "--anon", "\(3 * mib)", "--threads", "2",
        ])
        let (regions, classes) = try reader.classifiedRegions(fixture.pid)
        let m = RegionClassifier.totals(regions, classes)
        let status = KeyValueParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "/proc/\(fixture.pid)/status"))))
        let vmData = try XCTUnwrap(KeyValueParser.kilobytes(status["VmData"]))
        let vmSize = try XCTUnwrap(KeyValueParser.kilobytes(status["VmSize"]))
        let mainStack = zip(regions, classes).filter { $0.0.path == "[stack]" }.map(\.0.size).reduce(0, +)
        let dump = zip(regions, classes).map { "\($0.0.start) \($0.0.size) \($0.0.permissions.text) \($0.1) \($0.0.path)" }
        XCTAssertEqual(m.data + m.dynamic + (m.stack - mainStack), vmData, dump.joined(separator: " | "))
        XCTAssertEqual(m.virtualSize, vmSize)
        XCTAssertEqual(classes.filter { $0 == .stack }.count, 3, "main stack + 2 thread stacks")
    }

    func testGrowthIsSeenLive() throws {
        let fixture = try FixtureProcess(BuiltProducts.path("fixture-memory"))
        let before = try memory(fixture)
        fixture.send("grow \(10 * mib)")
        try fixture.waitFor("grew")
        let after = try memory(fixture)
        XCTAssertGreaterThanOrEqual(after.dynamic - before.dynamic, 10 * mib)
        XCTAssertLessThanOrEqual(after.dynamic - before.dynamic, 11 * mib)
    }

    func testExitedProcessIsNoSuchProcess() throws {
        let fixture = try FixtureProcess(BuiltProducts.path("fixture-memory"))
        let pid = fixture.pid
        fixture.stop()
        XCTAssertThrowsError(try reader.process(pid)) { error in
            XCTAssertEqual(error as? ProcError, .noSuchProcess(pid: pid))
        }
    }

    func testKernelThreadsAreSkipped() throws {
        // kthreadd is pid 2 where the kernel's threads are visible; elsewhere nothing to check.
        guard let stat = try? reader.stat(2), stat.isKernelThread else { throw XCTSkip("no kernel threads visible") }
        XCTAssertNil(try reader.process(2))
    }

    func testProcessIdentityUsesStartTime() throws {
        let fixture = try FixtureProcess(BuiltProducts.path("fixture-memory"))
        let record = try XCTUnwrap(try reader.process(fixture.pid))
        let stat = try String(contentsOfFile: "/proc/\(fixture.pid)/stat", encoding: .utf8)
        let afterComm = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        XCTAssertEqual(record.instance.startTicks, UInt64(afterComm[19]))
        XCTAssertEqual(record.executable, BuiltProducts.path("fixture-memory"))
        XCTAssertEqual(record.name, "fixture-memory")
    }
}
