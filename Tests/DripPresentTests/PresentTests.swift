@testable import DripPresent
import DripModel
import Foundation
import XCTest

final class PresentTests: XCTestCase {
    func testHumanSizes() {
        XCTAssertEqual(SizeStyle.human.format(0), "0")
        XCTAssertEqual(SizeStyle.human.format(1023), "1023")
        XCTAssertEqual(SizeStyle.human.format(1024), "1.0K")
        XCTAssertEqual(SizeStyle.human.format(135_168), "132K")
        XCTAssertEqual(SizeStyle.human.format(8 << 20), "8.0M")
        XCTAssertEqual(SizeStyle.human.format(300 << 20), "300M")
        XCTAssertEqual(SizeStyle.human.format((10 << 20) - 1), "10M")
        XCTAssertEqual(SizeStyle.human.format(UInt64(1.5 * 1024 * 1024 * 1024)), "1.5G")
        XCTAssertEqual(SizeStyle.human.format(signed: -2048), "-2.0K")
        XCTAssertEqual(SizeStyle.bytes.format(signed: -1056), "-1056")
    }

    func testTableAlignment() {
        var t = Table([.init("JID"), .init("name", .left), .init("bytes")])
        t.append(["117", "arp", "662916"])
        t.append(["65819", "exec", "88"])
        XCTAssertEqual(t.render(), [
            "  JID  name   bytes",
            "  ---  ----   -----",
            "  117  arp   662916",
            "65819  exec      88",
        ].joined(separator: "\n") + "\n")
    }

    func testHandWrittenBlocksJSONParses() throws {
        let blocks = [HeapBlock(address: 0x1000, usize: 24, size: 32, caller: "f \"quoted\" (a.c:1) → strdup\n"),
                      HeapBlock(address: 0x2000, usize: 8, size: 32, caller: "g")]
        let text = try HeapView.blocksJSON(blocks, total: 5)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let rows = try XCTUnwrap(object["blocks"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["caller"] as? String, blocks[0].caller)
        XCTAssertEqual(rows[0]["address"] as? String, "0x1000")
        XCTAssertEqual(rows[1]["usize"] as? Int, 8)
        XCTAssertEqual(object["total"] as? Int, 5)
        XCTAssertEqual(try HeapView.blocksJSON([], total: 0).filter { !$0.isWhitespace }, "{\"blocks\":[],\"total\":0}")
    }

    func testLongCppCallersAreFoldedInTables() {
        let long = "void swift::ConcurrentReadableHashMap<swift::HashMapElementWrapper<swift::GenericCacheEntry>, swift::Mutex>::getOrInsertExternallyLocked<swift::MetadataCacheKey, std::pair<swift::GenericCacheEntry*, bool>>(swift::MetadataCacheKey, std::pair<swift::GenericCacheEntry*, bool> const&) (Metadata.cpp:88) → operator new"
        XCTAssertEqual(HeapView.readable(long),
                       "void swift::ConcurrentReadableHashMap<…>::getOrInsertExternallyLocked<…>(…) (Metadata.cpp:88) → operator new")
        XCTAssertEqual(HeapView.readable("leak_node (leaker.c:24)"), "leak_node (leaker.c:24)")
    }

    func testDiffRatePerHour() {
        XCTAssertEqual(HeapView.rate(1000, 3600), 1000)
        XCTAssertEqual(HeapView.rate(-500, 1800), -1000)
        XCTAssertNil(HeapView.rate(1000, 0.2), "too close together to give a rate")
    }
}
