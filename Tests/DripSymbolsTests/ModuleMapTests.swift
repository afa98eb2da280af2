import DripModel
import DripSymbols
import Foundation
import XCTest

final class ModuleMapTests: XCTestCase {
    /// Bias on live processes: the data symbol's file address plus the bias must be
    /// exactly the address the fixture printed, for PIE (bias = load base),
    /// non-PIE (bias 0) and the shared library.
    func testBiasOnLiveProcesses() throws {
        let fixtures = try Fixtures.get()
        for (path, isPIE) in [(fixtures.pie, true), (fixtures.noPie, false)] {
            let running = try RunningFixture(path, expecting: 3)
            let map = ModuleMap(regions: try readMaps(running.pid), pid: running.pid)
            let main = try XCTUnwrap(map.module(path: path), path)
            let elf = try ELFFile(contentsOf: path)
            XCTAssertTrue(main.biasIsExact)
            XCTAssertEqual(main.buildID, elf.buildID)
            if isPIE {
                XCTAssertNotEqual(main.bias, 0)
                XCTAssertEqual(main.fileType, .sharedObject)
            } else {
                XCTAssertEqual(main.bias, 0)
                XCTAssertEqual(main.fileType, .executable)
            }
            let counter = try XCTUnwrap(elf.symbol(named: "drip_fixture_counter"))
            XCTAssertEqual(main.runtimeAddress(ofFile: counter.value), running.addresses["counter"])
            let function = try XCTUnwrap(elf.symbol(named: "drip_fixture_func"))
            XCTAssertEqual(main.runtimeAddress(ofFile: function.value), running.addresses["func"])
            let funcAddress = try XCTUnwrap(running.addresses["func"])
            XCTAssertEqual(map.resolve(funcAddress)?.offset, function.value)
            XCTAssertEqual(map.resolve(funcAddress)?.module, path)

            let library = try XCTUnwrap(map.module(path: "libdripfixture.so"))
            let libFunction = try XCTUnwrap(try ELFFile(contentsOf: fixtures.library).symbol(named: "drip_fixture_lib_func"))
            XCTAssertEqual(library.runtimeAddress(ofFile: libFunction.value), running.addresses["lib"])
            XCTAssertNotNil(map.module(path: "libc.so.6"))
            XCTAssertNil(map.resolve(0x10))
        }
    }

    /// The bias rule on synthetic maps: a library whose first PT_LOAD is not at vaddr 0
    /// (prelinked style) and mappings listed out of order.
    func testBiasUsesPageAlignedSegmentMatchingTheMappingOffset() throws {
        let elf = try ELFFile(contentsOf: try Fixtures.get().library)
        let loads = elf.loadSegments
        XCTAssertGreaterThanOrEqual(loads.count, 2)
        let base: UInt64 = 0x7f00_0000_0000
        let perms = Region.Permissions(read: true, write: false, execute: true, shared: false)
        // Only the second segment's mapping is present (the first was unmapped): the
        // bias still comes out right because it is computed from the matching PT_LOAD.
        let second = loads[1]
        let region = Region(start: base + (second.virtualAddress & ~0xfff), end: base + (second.virtualAddress & ~0xfff) + 0x1000,
                            permissions: perms, offset: second.offset & ~0xfff, inode: 1, path: "/x/libfake.so")
        let map = ModuleMap(regions: [region], loader: { _ in elf })
        XCTAssertEqual(map.modules.first?.bias, base)
        // Deleted file: path cleaned, read through map_files, still a module.
        let deleted = Region(start: base, end: base + 0x1000, permissions: perms, offset: 0, inode: 2,
                             path: "/x/libgone.so (deleted)")
        var asked: [String] = []
        let deletedMap = ModuleMap(regions: [deleted], pid: 1234, loader: { asked.append($0); return elf })
        let module = try XCTUnwrap(deletedMap.modules.first)
        XCTAssertEqual(module.path, "/x/libgone.so")
        XCTAssertTrue(module.isDeleted)
        XCTAssertEqual(module.objectPath, "/proc/1234/map_files/7f0000000000-7f0000001000")
        XCTAssertEqual(asked, [module.objectPath])
        // Unreadable executable mapping: kept with a guessed bias; unreadable data file: dropped.
        let unreadable = ModuleMap(regions: [
            Region(start: base + 0x1000, end: base + 0x2000, permissions: perms, offset: 0x1000, inode: 3, path: "/x/a.so"),
            Region(start: base + 0x10000, end: base + 0x11000, permissions: .init(read: true, write: false, execute: false, shared: false),
                   offset: 0, inode: 4, path: "/x/data.bin"),
        ], loader: { _ in throw ELFError.notELF })
        XCTAssertEqual(unreadable.modules.count, 1)
        XCTAssertEqual(unreadable.modules.first?.bias, base)
        XCTAssertEqual(unreadable.modules.first?.biasIsExact, false)
    }
}
