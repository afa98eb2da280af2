import DripModel
import DripSymbols
import Foundation
import XCTest

final class SymbolizerTests: XCTestCase {
    func requireTool() throws -> String {
        try XCTUnwrap(Symbolizer.locateTool(), "llvm-symbolizer not found")
    }

    /// Live fixtures: runtime address → function, file basename and line (oracle:
    /// the LINE: markers), for PIE, non-PIE and a shared library.
    func testSymbolizesLiveCProcesses() throws {
        let fixtures = try Fixtures.get()
        let symbolizer = Symbolizer(toolPath: try requireTool())
        let funcLine = try fixtures.line(of: "drip_fixture_func", in: "fixture.c")
        let libLine = try fixtures.line(of: "drip_fixture_lib_func", in: "fixturelib.c")
        for path in [fixtures.pie, fixtures.noPie] {
            let running = try RunningFixture(path, expecting: 3)
            let map = ModuleMap(regions: try readMaps(running.pid), pid: running.pid)
            let frames = symbolizer.symbolize([try XCTUnwrap(running.addresses["func"]),
                                               try XCTUnwrap(running.addresses["lib"]), 0x10], in: map)
            XCTAssertEqual(frames[0].function, "drip_fixture_func", path)
            XCTAssertEqual(frames[0].file.map { URL(fileURLWithPath: $0).lastPathComponent }, "fixture.c")
            XCTAssertEqual(frames[0].line, funcLine)
            XCTAssertEqual(frames[0].module, path)
            XCTAssertEqual(frames[0].functionOffset, 0)
            XCTAssertEqual(frames[1].function, "drip_fixture_lib_func")
            XCTAssertEqual(frames[1].file.map { URL(fileURLWithPath: $0).lastPathComponent }, "fixturelib.c")
            XCTAssertEqual(frames[1].line, libLine)
            XCTAssertTrue(frames[1].module?.hasSuffix("libdripfixture.so") ?? false)
            XCTAssertNil(frames[2].module)
            XCTAssertTrue(frames[2].locations.isEmpty)
            XCTAssertEqual(frames[2].description, "0x10")
        }
    }

    func testCxxNameIsDemangled() throws {
        let fixtures = try Fixtures.get()
        let running = try RunningFixture(fixtures.widget, expecting: 1)
        let map = ModuleMap(regions: try readMaps(running.pid), pid: running.pid)
        let address = try XCTUnwrap(running.addresses["func"])
        let frame = Symbolizer(toolPath: try requireTool()).symbolize([address], in: map)[0]
        XCTAssertEqual(frame.function, "ns::Widget::make(int)")
        XCTAssertEqual(frame.line, try fixtures.line(of: "ns::Widget::make", in: "widget.cpp"))
        // The symbol-table fallback demangles through __cxa_demangle.
        XCTAssertEqual(Symbolizer(toolPath: nil).symbolize([address], in: map)[0].function, "ns::Widget::make(int)")
    }

    /// Inlined code: the inlined callee first, the owning function last, each with its line.
    func testInlinedFrames() throws {
        let fixtures = try Fixtures.get()
        let output = try shell(fixtures.inline, [])
        let text = try XCTUnwrap(output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let returnAddress = try XCTUnwrap(UInt64(text.dropFirst(2), radix: 16))
        // A return address points after the call; minus one is inside the call instruction.
        let call = ModuleAddress(address: returnAddress - 1, module: fixtures.inline, objectPath: fixtures.inline,
                                 offset: returnAddress - 1)
        let frame = Symbolizer(toolPath: try requireTool()).symbolize([call])[0]
        XCTAssertEqual(frame.locations.map(\.function), ["helper", "outer"])
        XCTAssertEqual(frame.locations.map(\.line),
                       [try fixtures.line(of: "helper", in: "inline.c"), try fixtures.line(of: "outer", in: "inline.c")])
        XCTAssertEqual(frame.function, "helper")
        XCTAssertEqual(frame.owningFunction, "outer")
    }

    /// Without llvm-symbolizer, or with one that dies, frames still get function+offset.
    func testFallsBackToSymbolTables() throws {
        let fixtures = try Fixtures.get()
        let elf = try ELFFile(contentsOf: fixtures.pie)
        let function = try XCTUnwrap(elf.symbol(named: "drip_fixture_func"))
        let address = ModuleAddress(address: 0x5555_0000_0000 + function.value + 4, module: fixtures.pie,
                                    objectPath: fixtures.pie, offset: function.value + 4)
        for tool in [nil, "/bin/false", "/nonexistent/llvm-symbolizer"] as [String?] {
            let frame = Symbolizer(toolPath: tool).symbolize([address])[0]
            XCTAssertEqual(frame.function, "drip_fixture_func", tool ?? "nil")
            XCTAssertNil(frame.file)
            XCTAssertEqual(frame.functionOffset, 4)
            XCTAssertEqual(frame.description, "drip_fixture_func+0x4 (fixture-pie)")
        }
        // Unknown module: unresolved but present, shown as module+offset.
        let missing = ModuleAddress(address: 0x1234, module: "/gone/libx.so", objectPath: "/gone/libx.so", offset: 0x234)
        let frame = Symbolizer(toolPath: try requireTool()).symbolize([missing])[0]
        XCTAssertTrue(frame.locations.isEmpty)
        XCTAssertEqual(frame.description, "libx.so+0x234")
    }

    /// Stripped /bin/ls: llvm-symbolizer finds nothing, the dynsym fallback may; never fails.
    func testStrippedBinaryDoesNotFail() throws {
        let elf = try ELFFile(contentsOf: "/bin/ls")
        let text = try XCTUnwrap(elf.textSegment)
        let addresses = stride(from: text.virtualAddress, to: text.virtualAddress + text.fileSize, by: 997).map {
            ModuleAddress(address: $0, module: "/bin/ls", objectPath: "/bin/ls", offset: $0)
        }
        let frames = Symbolizer(toolPath: try requireTool()).symbolize(addresses)
        XCTAssertEqual(frames.count, addresses.count)
        XCTAssertEqual(frames.map(\.offset), addresses.map(\.offset))
    }

    /// 5,000 distinct addresses across the test process's big libraries, in one batch.
    func testBatchPerformance() throws {
        let tool = try requireTool()
        let map = ModuleMap(regions: try readMaps(getpid()), pid: getpid())
        let libraries = map.modules.filter { module in
            ["libc.so.6", "libswiftCore.so", "libFoundation.so", "libFoundationEssentials.so", "libstdc++.so.6"]
                .contains(module.name)
        }
        XCTAssertGreaterThanOrEqual(libraries.count, 2, "\(map.modules.map(\.path))")
        var addresses: [UInt64] = []
        for module in libraries {
            let elf = try ELFFile(contentsOf: module.objectPath)
            let text = try XCTUnwrap(elf.textSegment)
            let step = max(1, text.fileSize / UInt64(5_000 / libraries.count + 1))
            var offset = text.virtualAddress
            while offset < text.virtualAddress + text.fileSize && addresses.count < 5_000 {
                addresses.append(module.runtimeAddress(ofFile: offset))
                offset += step
            }
        }
        let symbolizer = Symbolizer(toolPath: tool)
        let start = Date()
        let frames = symbolizer.symbolize(addresses, in: map)
        let elapsed = Date().timeIntervalSince(start)
        print("symbolized \(Set(addresses).count) addresses in \(String(format: "%.3f", elapsed)) s with \(tool)")
        XCTAssertEqual(frames.count, addresses.count)
        XCTAssertGreaterThan(frames.filter { $0.function != nil }.count, addresses.count * 9 / 10)
        XCTAssertLessThan(elapsed, 2.0)
        // Cached: a second pass does not touch the child.
        let again = Date()
        XCTAssertEqual(symbolizer.symbolize(addresses, in: map), frames)
        XCTAssertLessThan(Date().timeIntervalSince(again), 0.5)
        // malloc in this process's libc resolves to a malloc name.
        let malloc = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc"))
        let frame = symbolizer.symbolize([UInt64(UInt(bitPattern: malloc))], in: map)[0]
        XCTAssertTrue(frame.function?.contains("malloc") ?? false, "\(frame)")
        XCTAssertTrue(frame.module?.hasSuffix("libc.so.6") ?? false)
    }
}
