@testable import DripPresent
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
}
