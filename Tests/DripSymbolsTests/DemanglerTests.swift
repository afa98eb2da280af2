import DripSymbols
import Foundation
import XCTest

final class DemanglerTests: XCTestCase {
    func testSwiftNamesAreSimplified() {
        XCTAssertEqual(Demangler.demangle("$s4main6LeakerC4makeyyF"), "Leaker.make()")
        XCTAssertEqual(Demangler.demangle("_$s4main6LeakerC4makeyyF"), "Leaker.make()")
        XCTAssertEqual(Demangler.demangle("$s4main6LeakerC8makeNodeyAA0D0CSiF"), "Leaker.makeNode(_:)")
        XCTAssertEqual(Demangler.demangle("$s4main6LeakerC8makeNode5countAA0D0CSi_tF"), "Leaker.makeNode(count:)")
        XCTAssertEqual(Demangler.demangle("$s1m6LeakerC4makeSiyF"), "Leaker.make()")
        XCTAssertEqual(Demangler.fullSwiftName("$s4main6LeakerC4makeyyF"), "main.Leaker.make() -> ()")
        // LLVM suffixes are not part of the mangling.
        XCTAssertEqual(Demangler.demangle("$s4main6LeakerC4makeyyF.llvm.1234"), "Leaker.make()")
    }

    func testSimplifierOnComplexShapes() {
        XCTAssertEqual(Demangler.simplifySwift("closure #1 (Swift.Int) -> () in main.Leaker.make(count: Swift.Int) -> ()"),
                       "closure #1 (Int) -> () in Leaker.make(count:)")
        XCTAssertEqual(Demangler.simplifySwift("generic specialization <Swift.Int> of main.f<A>(A, (A) -> A) -> [A]"),
                       "generic specialization <Int> of f<A>(_:_:)")
        XCTAssertEqual(Demangler.simplifySwift("main.Leaker.count.getter : Swift.Int"), "Leaker.count.getter : Int")
    }

    /// Agrees with `swift-demangle --simplified` where that tool exists.
    func testAgreesWithSwiftDemangleSimplified() throws {
        guard FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/swift-demangle") else {
            throw XCTSkip("swift-demangle not installed")
        }
        for name in ["$s4main6LeakerC4makeyyF", "$s4main6LeakerC8makeNodeyAA0D0CSiF",
                     "$s4main6LeakerC8makeNode5countAA0D0CSi_tF", "$s1m6LeakerC4makeSiyF"] {
            let oracle = try shell("/opt/swift/usr/bin/swift-demangle", ["--simplified", "--compact", name])
            XCTAssertEqual(Demangler.demangle(name), oracle.trimmingCharacters(in: .whitespacesAndNewlines), name)
        }
    }

    func testOtherNames() {
        XCTAssertEqual(Demangler.demangle("_ZN2ns6Widget4makeEi"), "ns::Widget::make(int)")
        XCTAssertEqual(Demangler.demangle("malloc"), "malloc")
        XCTAssertEqual(Demangler.demangle("$notswift"), "$notswift")
        XCTAssertFalse(Demangler.isSwiftSymbol("_Znwm"))
        XCTAssertTrue(Demangler.isSwiftSymbol("$s4main6LeakerC4makeyyF"))
    }

    /// Every Swift function in this test binary demangles to something unmangled.
    func testSwiftSymbolsOfThisBinaryDemangle() throws {
        let elf = try ELFFile(contentsOf: try selfExecutable())
        let swift = elf.functions.filter { Demangler.isSwiftSymbol($0.name) }
        XCTAssertGreaterThan(swift.count, 10)
        for symbol in swift {
            let name = Demangler.demangle(symbol.name)
            XCTAssertFalse(name.hasPrefix("$s"), symbol.name)
            XCTAssertFalse(name.isEmpty, symbol.name)
        }
        XCTAssertTrue(swift.contains { Demangler.demangle($0.name).contains("DemanglerTests.testOtherNames()") })
    }
}
