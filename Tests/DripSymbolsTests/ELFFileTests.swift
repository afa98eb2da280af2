import DripSymbols
import Foundation
import XCTest

final class ELFFileTests: XCTestCase {
    /// Build-id, type and segment helpers of real files, checked against readelf.
    func testRealFilesMatchReadelf() throws {
        let fixtures = try Fixtures.get()
        let files = ["/bin/ls", try selfLibc(), try selfExecutable(), fixtures.pie, fixtures.noPie, fixtures.library,
                     fixtures.widget]
        for path in files {
            let elf = try ELFFile(contentsOf: path)
            XCTAssertEqual(elf.buildID, try readelfBuildID(path), path)
            XCTAssertNotNil(elf.textSegment, path)
            XCTAssertTrue(elf.textSegment?.isExecutable ?? false, path)
            XCTAssertTrue(elf.dataSegment?.isWritable ?? false, path)
            XCTAssertNotNil(elf.dynamicSegment, path)
            XCTAssertNotNil(elf.ehFrameHeader, path)
            XCTAssertTrue(elf.segments.contains { $0.kind == .note }, path)
            XCTAssertNotNil(elf.section(named: ".text"), path)
            XCTAssertEqual(elf.machine, 62, path)
        }
        XCTAssertTrue(try ELFFile(contentsOf: fixtures.pie).isPositionIndependent)
        XCTAssertTrue(try ELFFile(contentsOf: fixtures.library).isPositionIndependent)
        XCTAssertEqual(try ELFFile(contentsOf: fixtures.noPie).fileType, .executable)
        XCTAssertFalse(try ELFFile(contentsOf: fixtures.noPie).isPositionIndependent)
    }

    /// Segment and section tables against `readelf -lW` / `-SW` on the PIE fixture.
    func testProgramHeadersMatchReadelf() throws {
        let path = try Fixtures.get().pie
        let elf = try ELFFile(contentsOf: path)
        let loads = try shell("readelf", ["-lW", path]).split(separator: "\n")
            .filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("LOAD") }
            .map { $0.split(separator: " ") }
        XCTAssertEqual(loads.count, elf.loadSegments.count)
        for (fields, segment) in zip(loads, elf.loadSegments) {
            XCTAssertEqual(UInt64(fields[1].dropFirst(2), radix: 16), segment.offset)
            XCTAssertEqual(UInt64(fields[2].dropFirst(2), radix: 16), segment.virtualAddress)
            XCTAssertEqual(UInt64(fields[4].dropFirst(2), radix: 16), segment.fileSize)
            XCTAssertEqual(UInt64(fields[5].dropFirst(2), radix: 16), segment.memorySize)
        }
        let sectionNames = try shell("readelf", ["-SW", path]).split(separator: "\n")
            .compactMap { line -> String? in
                guard let close = line.firstIndex(of: "]"), line.contains("[") else { return nil }
                return line[line.index(after: close)...].split(separator: " ").first.map(String.init)
            }.filter { $0.hasPrefix(".") }
        XCTAssertEqual(elf.sections.map(\.name).filter { $0.hasPrefix(".") }, sectionNames)
    }

    /// Every unambiguous nm symbol is found by name with the same value, and
    /// function lookup by address lands on a symbol at that address.
    func testSymbolsMatchNm() throws {
        let fixtures = try Fixtures.get()
        for (path, dynamic) in [(fixtures.pie, false), (fixtures.noPie, false), (fixtures.library, false),
                                (fixtures.widget, false), (try selfLibc(), true), (try selfExecutable(), false)] {
            let elf = try ELFFile(contentsOf: path)
            let expected = try nmSymbols(path, dynamic: dynamic)
            XCTAssertGreaterThan(expected.count, 3, path)
            var checked = 0
            for (name, value) in expected {
                guard let symbol = elf.symbol(named: name) else { continue }  // nm also lists sections/NOTYPE
                XCTAssertEqual(symbol.value, value, "\(path): \(name)")
                checked += 1
            }
            XCTAssertGreaterThan(checked, expected.count / 2, path)
            let functions = try nmSymbols(path, dynamic: dynamic, wanted: ["T", "t", "W", "i"])
            for (name, value) in functions.prefix(500) where elf.symbol(named: name)?.size ?? 0 > 0 {
                XCTAssertEqual(elf.function(containing: value)?.value, value, "\(path): \(name)")
            }
        }
        let pie = try ELFFile(contentsOf: fixtures.pie)
        XCTAssertEqual(pie.symbol(named: "drip_fixture_counter")?.kind, .object)
        XCTAssertEqual(pie.symbol(named: "drip_fixture_func")?.kind, .function)
        let function = try XCTUnwrap(pie.symbol(named: "drip_fixture_func"))
        XCTAssertEqual(pie.function(containing: function.value + 1)?.name, "drip_fixture_func")
        XCTAssertNil(pie.function(containing: 0))
        XCTAssertEqual(try ELFFile(contentsOf: selfLibc()).function(containing:
            try XCTUnwrap(ELFFile(contentsOf: selfLibc()).symbol(named: "malloc")).value)?.name, "malloc")
    }

    func testDebugLinkOfObjcopiedFile() throws {
        let fixtures = try Fixtures.get()
        let debug = fixtures.directory + "/fixture.debug", stripped = fixtures.directory + "/fixture-linked"
        _ = try shell("objcopy", ["--only-keep-debug", fixtures.pie, debug])
        _ = try shell("objcopy", ["--strip-debug", "--add-gnu-debuglink=" + debug, fixtures.pie, stripped])
        let link = try XCTUnwrap(try ELFFile(contentsOf: stripped).debugLink)
        XCTAssertEqual(link.fileName, "fixture.debug")
        XCTAssertEqual(link.crc, crc32(try Data(contentsOf: URL(fileURLWithPath: debug))))
        // The separate debug file parses too (its sections are NOBITS) and has the same build-id.
        XCTAssertEqual(try ELFFile(contentsOf: debug).buildID, try ELFFile(contentsOf: fixtures.pie).buildID)
        XCTAssertNil(try ELFFile(contentsOf: fixtures.pie).debugLink)
    }

    // MARK: Malformed input

    func testTruncatedAndCorruptInputThrowsNamedErrors() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try Fixtures.get().pie)))
        XCTAssertThrowsError(try ELFFile(bytes: [])) { XCTAssertEqual($0 as? ELFError, .notELF) }
        XCTAssertThrowsError(try ELFFile(bytes: Array("#!/bin/sh\n".utf8))) { XCTAssertEqual($0 as? ELFError, .notELF) }
        XCTAssertThrowsError(try ELFFile(bytes: Array(bytes[..<40]))) {
            guard case .truncated(let what, _, _, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "ELF header")
        }
        // The section header table sits at the end of the file.
        XCTAssertThrowsError(try ELFFile(bytes: Array(bytes[..<(bytes.count - 100)]))) {
            guard case .truncated(let what, _, _, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "section header table")
        }
        var elf32 = bytes; elf32[4] = 1
        XCTAssertThrowsError(try ELFFile(bytes: elf32)) { XCTAssertEqual($0 as? ELFError, .unsupportedClass(1)) }
        var bigEndian = bytes; bigEndian[5] = 2
        XCTAssertThrowsError(try ELFFile(bytes: bigEndian)) { XCTAssertEqual($0 as? ELFError, .unsupportedByteOrder(2)) }
        var badPhentsize = bytes; badPhentsize[54] = 10; badPhentsize[55] = 0
        XCTAssertThrowsError(try ELFFile(bytes: badPhentsize)) {
            guard case .malformed(let what, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "program header table")
        }
        var phoffPastEnd = bytes
        withUnsafeBytes(of: UInt64(bytes.count - 8).littleEndian) { phoffPastEnd.replaceSubrange(32..<40, with: $0) }
        XCTAssertThrowsError(try ELFFile(bytes: phoffPastEnd)) {
            guard case .truncated(let what, _, _, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "program header table")
        }
        var shoffHuge = bytes
        withUnsafeBytes(of: UInt64.max.littleEndian) { shoffHuge.replaceSubrange(40..<48, with: $0) }
        XCTAssertThrowsError(try ELFFile(bytes: shoffHuge)) {
            guard case .truncated(let what, _, _, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "section header table")
        }
        var badNameIndex = bytes; badNameIndex[62] = 0xfe; badNameIndex[63] = 0x7f
        XCTAssertThrowsError(try ELFFile(bytes: badNameIndex)) {
            guard case .malformed(let what, _)? = $0 as? ELFError else { return XCTFail("\($0)") }
            XCTAssertEqual(what, "e_shstrndx")
        }
        XCTAssertThrowsError(try ELFFile(contentsOf: "/nonexistent/file")) {
            XCTAssertEqual($0 as? ELFError, .unreadable(path: "/nonexistent/file", errno: ENOENT))
        }
    }

    /// Random corruption never traps: every mutant parses or throws ELFError.
    func testRandomCorruptionNeverTraps() throws {
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: try Fixtures.get().library)))
        var generator = SplitMix(seed: 42)
        for round in 0..<300 {
            var bytes = original
            let flips = 1 + Int(generator.next() % 16)
            for _ in 0..<flips {
                // Headers and tables are where offsets live: aim half the flips at the header.
                let limit = round % 2 == 0 ? 64 : bytes.count
                bytes[Int(generator.next() % UInt64(limit))] = UInt8(truncatingIfNeeded: generator.next())
            }
            if round % 3 == 0 { bytes = Array(bytes[..<Int(generator.next() % UInt64(bytes.count))]) }
            do { _ = try ELFFile(bytes: bytes) } catch { XCTAssertTrue(error is ELFError) }
        }
    }

    func testDataSegmentEndFromProgramHeaders() throws {
        // libc's writable segment: its end from the program headers must cover
        // the file-backed data mapping and stop within a few pages of it.
        let libc = try XCTUnwrap(try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
            .split(separator: "\n").first { $0.hasSuffix("/libc.so.6") && $0.contains(" rw-p ") })
        let fields = libc.split(separator: " ", omittingEmptySubsequences: true)
        let range = fields[0].split(separator: "-")
        let start = UInt64(range[0], radix: 16)!, end = UInt64(range[1], radix: 16)!
        let offset = UInt64(fields[2], radix: 16)!
        let segments = try ELFFile.programHeaders(atPath: String(fields[5]))
        XCTAssertEqual(segments, try ELFFile(contentsOf: String(fields[5])).segments)
        let dataEnd = try XCTUnwrap(ELFFile.dataSegmentEnd(segments, mappingStart: start, mappingOffset: offset))
        XCTAssertGreaterThanOrEqual(dataEnd, end)
        XCTAssertLessThan(dataEnd, end + 64 * 4096)
    }
}

/// Deterministic PRNG so a failing mutant can be reproduced.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// CRC-32 (IEEE, reflected), as .gnu_debuglink uses.
func crc32(_ data: Data) -> UInt32 {
    var table = [UInt32](repeating: 0, count: 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        table[i] = c
    }
    var crc: UInt32 = 0xffff_ffff
    for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
    return crc ^ 0xffff_ffff
}
