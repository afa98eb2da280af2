import DripSymbols
import XCTest

final class AllocatorPlumbingTests: XCTestCase {
    func frame(_ function: String?, module: String = "/usr/bin/snmpd") -> SymbolizedFrame {
        SymbolizedFrame(address: 0x1000, module: module, offset: 0x1000,
                        locations: function.map { [SourceLocation(function: $0, file: nil, line: 0)] } ?? [])
    }

    let agent = "/usr/lib/drip/libdrip-agent.so"

    func testWrapperNames() {
        for name in ["malloc", "calloc", "realloc", "strdup", "strndup", "__strdup", "__libc_malloc",
                     "_Znwm", "_Znam", "_ZnwmSt11align_val_t", "_ZnwmRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
                     "operator new(unsigned long)", "operator new[](unsigned long, std::nothrow_t const&)",
                     "swift_slowAlloc", "swift_allocObject", "swift::swift_slowAlloc(unsigned long, unsigned long)",
                     "asprintf", "vasprintf", "getline", "open_memstream", "malloc@plt", "strdup@@GLIBC_2.2.5",
                     "std::allocator<char>::allocate(unsigned long)",
                     "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)",
                     "std::__new_allocator<std::pair<int const, int> >::allocate(unsigned long, void const*)"] {
            XCTAssertTrue(AllocatorPlumbing.isWrapper(name), name)
        }
        for name in ["main", "snmp_object_create_list", "__libc_start_main", "operator delete(void*)",
                     "std::vector<int, std::allocator<int> >::push_back(int const&)", "Leaker.make()", "newline"] {
            XCTAssertFalse(AllocatorPlumbing.isWrapper(name), name)
        }
    }

    func testCallerSkipsAgentAndWrappersAndNamesTheWrapper() {
        let stack = [frame("malloc", module: agent), frame("drip_capture", module: agent), frame("strdup", module: "/lib/libc.so.6"),
                     frame("snmp_object_create_list"), frame("main")]
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: stack), CallerSelection(index: 3, wrapper: "strdup"))
        // Straight malloc: the wrapper is the agent's hooked entry point.
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: [frame("malloc", module: agent), frame("main")]),
                       CallerSelection(index: 1, wrapper: "malloc"))
        // C++ new through the std allocator.
        let cxx = [frame("malloc", module: agent), frame("operator new(unsigned long)", module: "/lib/libstdc++.so.6"),
                   frame("std::__new_allocator<int>::allocate(unsigned long, void const*)"),
                   frame("ns::Widget::make(int)")]
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: cxx),
                       CallerSelection(index: 3, wrapper: "std::__new_allocator<int>::allocate"))
        // Swift object allocation.
        let swift = [frame("malloc", module: agent), frame("swift_slowAlloc"), frame("swift_allocObject"),
                     frame("Leaker.makeNode(_:)")]
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: swift), CallerSelection(index: 3, wrapper: "swift_allocObject"))
        // Mangled new shows as operator new.
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: [frame("_Znwm"), frame("f")]),
                       CallerSelection(index: 1, wrapper: "operator new"))
        // An unresolved frame is a caller (it may be the leaker), not plumbing.
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: [frame("malloc", module: agent), frame(nil)]),
                       CallerSelection(index: 1, wrapper: "malloc"))
        // No plumbing at all: the innermost frame, no wrapper.
        XCTAssertEqual(AllocatorPlumbing.selectCaller(in: [frame("main")]), CallerSelection(index: 0, wrapper: nil))
        XCTAssertNil(AllocatorPlumbing.selectCaller(in: []))
        XCTAssertNil(AllocatorPlumbing.selectCaller(in: [frame("malloc", module: agent)]))
    }

    /// Inlined code: the owning (outermost) function decides.
    func testInlinedFramesUseTheOwningFunction() {
        let inlinedWrapperInCaller = SymbolizedFrame(address: 1, module: "/usr/bin/x", offset: 1, locations: [
            SourceLocation(function: "xmalloc", file: "x.c", line: 3), SourceLocation(function: "caller", file: "x.c", line: 9),
        ])
        XCTAssertFalse(AllocatorPlumbing.isPlumbing(inlinedWrapperInCaller))
        XCTAssertEqual(inlinedWrapperInCaller.function, "xmalloc")
        XCTAssertEqual(inlinedWrapperInCaller.owningFunction, "caller")
    }

    func testSwiftAllocatingInitIsPlumbing() {
        XCTAssertTrue(AllocatorPlumbing.isWrapper("Session.__allocating_init()"))
        XCTAssertTrue(AllocatorPlumbing.isWrapper("Shop.Order.__allocating_init(id:)"))
        XCTAssertFalse(AllocatorPlumbing.isWrapper("Session.init()"))
        // Growing a standard-library collection is plumbing too; user methods are not.
        XCTAssertTrue(AllocatorPlumbing.isWrapper(
            "_ContiguousArrayBuffer._consumeAndCreateNew(bufferIsUnique:minimumCapacity:growForAppend:)"))
        XCTAssertTrue(AllocatorPlumbing.isWrapper("specialized Array.append(_:)"))
        XCTAssertTrue(AllocatorPlumbing.isWrapper("Array._createNewBuffer(bufferIsUnique:minimumCapacity:growForAppend:)"))
        XCTAssertTrue(AllocatorPlumbing.isWrapper("_NativeDictionary.resize(capacity:)"))
        XCTAssertFalse(AllocatorPlumbing.isWrapper("Array.sorted(by:)"))
        XCTAssertFalse(AllocatorPlumbing.isWrapper("Inventory.append(_:)"))
        XCTAssertTrue(AllocatorPlumbing.isWrapper("_PyObject_Malloc"))
    }
}
