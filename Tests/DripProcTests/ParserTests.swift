import DripModel
@testable import DripProc
import XCTest

final class ParserTests: XCTestCase {
    func testMapsLine() throws {
        let text = """
            55d0c0a00000-55d0c0a04000 r--p 00000000 fe:01 1835 /usr/bin/sleep
            55d0c0a04000-55d0c0a08000 r-xp 00004000 fe:01 1835 /usr/bin/sleep
            55d0c1b00000-55d0c1b21000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000001000 ---p 00000000 00:00 0 
            7f1000000000-7f1000400000 rw-s 00000000 00:01 4242 /dev/zero (deleted)
            7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]

            """
        let regions = try MapsParser.parse(Array(text.utf8))
        XCTAssertEqual(regions.count, 6)
        XCTAssertEqual(regions[0].start, 0x55d0c0a00000)
        XCTAssertEqual(regions[0].size, 0x4000)
        XCTAssertEqual(regions[1].permissions.text, "r-xp")
        XCTAssertEqual(regions[1].offset, 0x4000)
        XCTAssertEqual(regions[1].inode, 1835)
        XCTAssertEqual(regions[2].path, "[heap]")
        XCTAssertTrue(regions[3].permissions.isReservation)
        XCTAssertEqual(regions[3].path, "")
        XCTAssertEqual(regions[4].path, "/dev/zero (deleted)")
        XCTAssertTrue(regions[4].permissions.shared)
    }

    func testSmapsFields() throws {
        let text = """
            7f1000000000-7f1000400000 rw-p 00000000 00:00 0 
            Size:               4096 kB
            Rss:                1024 kB
            Pss:                 512 kB
            Private_Dirty:      1000 kB
            Anonymous:          1024 kB
            Swap:                  8 kB
            VmFlags: rd wr mr mw me ac sd
            7f1000400000-7f1000401000 r--p 00000000 00:00 0 
            Rss:                   4 kB
            """
        let regions = try MapsParser.parse(Array(text.utf8))
        XCTAssertEqual(regions.count, 2)
        XCTAssertEqual(regions[0].usage?.rss, 1024 * 1024)
        XCTAssertEqual(regions[0].usage?.pss, 512 * 1024)
        XCTAssertEqual(regions[0].usage?.swap, 8 * 1024)
        XCTAssertEqual(regions[0].usage?.flags, ["rd", "wr", "mr", "mw", "me", "ac", "sd"])
        XCTAssertEqual(regions[1].usage?.rss, 4096)
    }

    func testMalformedMapsNamesTheLine() {
        let text = "55d0c0a00000-zz r--p 00000000 fe:01 1835 /usr/bin/sleep\n"
        XCTAssertThrowsError(try MapsParser.parse(Array(text.utf8), path: "/proc/1/maps")) { error in
            guard case ProcError.malformed(let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/proc/1/maps")
            XCTAssertTrue(reason.contains("55d0c0a00000-zz"), reason)
        }
    }

    func testStatWithSpacesAndParensInComm() throws {
        let text = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 98765 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try StatParser.parse(Array(text.utf8))
        XCTAssertEqual(stat.pid, 4242)
        XCTAssertEqual(stat.comm, "my (odd) prog")
        XCTAssertEqual(stat.state, "S")
        XCTAssertEqual(stat.parentPid, 1)
        XCTAssertEqual(stat.threads, 3)
        XCTAssertEqual(stat.startTicks, 98765)
        XCTAssertEqual(stat.virtualSize, 12345678)
        XCTAssertFalse(stat.isKernelThread)
    }

    func testTruncatedStatIsMalformed() {
        let text = "4242 (prog) S 1 4242 4242 0 -1"
        XCTAssertThrowsError(try StatParser.parse(Array(text.utf8), path: "/proc/4242/stat")) { error in
            guard case ProcError.malformed(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/proc/4242/stat")
        }
        XCTAssertThrowsError(try StatParser.parse(Array("garbage".utf8)))
    }

    func testLimits() throws {
        let text = """
            Limit                     Soft Limit           Hard Limit           Units
            Max cpu time              unlimited            unlimited            seconds
            Max data size             16777216             unlimited            bytes
            """
        XCTAssertEqual(try LimitsParser.dataLimit(Array(text.utf8)), 16_777_216)
        let unlimited = text.replacingOccurrences(of: "16777216 ", with: "unlimited")
        XCTAssertNil(try LimitsParser.dataLimit(Array(unlimited.utf8)))
        XCTAssertThrowsError(try LimitsParser.dataLimit(Array("Limit Soft\n".utf8)))
    }

    func testCgroup() {
        XCTAssertEqual(CgroupParser.path(Array("0::/system.slice/ssh.service\n".utf8)), "/system.slice/ssh.service")
        XCTAssertEqual(CgroupParser.path(Array("12:cpu:/x\n1:name=systemd:/system.slice/cron.service\n".utf8)),
                       "/system.slice/cron.service")
    }

    func testServiceKeyPrefersTheUnit() {
        let record = ProcessRecord(instance: ProcessInstance(pid: 5, startTicks: 1), parentPid: 1, name: "sshd",
                                   executable: "/usr/sbin/sshd", commandLine: ["/usr/sbin/sshd", "-D"], state: "S",
                                   threads: 1, uid: 0, cgroup: "/system.slice/ssh.service", dataLimit: nil,
                                   memory: MemoryTotals())
        XCTAssertEqual(record.unit, "ssh.service")
        XCTAssertEqual(record.serviceKey.value, "unit:ssh.service")
        var plain = record
        plain.cgroup = "/user.slice/user-0.slice/session-1.scope"
        XCTAssertEqual(plain.serviceKey.value, "exe:/usr/sbin/sshd -D")
    }

    func testClassifierRules() throws {
        let text = """
            555500000000-555500001000 r--p 00000000 fe:01 10 /usr/bin/prog
            555500001000-555500002000 r-xp 00001000 fe:01 10 /usr/bin/prog
            555500002000-555500003000 r--p 00002000 fe:01 10 /usr/bin/prog
            555500003000-555500004000 rw-p 00003000 fe:01 10 /usr/bin/prog
            555500004000-555500006000 rw-p 00000000 00:00 0 
            555501000000-555501100000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000021000 rw-p 00000000 00:00 0 
            7f0000021000-7f0004000000 ---p 00000000 00:00 0 
            7f1000000000-7f1000001000 ---p 00000000 00:00 0 
            7f1000001000-7f1000101000 rw-p 00000000 00:00 0 
            7f2000000000-7f2000010000 r--p 00000000 fe:01 20 /usr/lib/libc.so.6
            7f2000010000-7f2000100000 r-xp 00010000 fe:01 20 /usr/lib/libc.so.6
            7f2000100000-7f2000102000 rw-p 00100000 fe:01 20 /usr/lib/libc.so.6
            7f2000102000-7f2000110000 rw-p 00000000 00:00 0 
            7f3000000000-7f3000400000 rw-s 00000000 00:01 99 /dev/shm/x
            7f4000000000-7f4000010000 r--p 00000000 fe:01 30 /usr/share/locale/data
            7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
            7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
            """
        let regions = try MapsParser.parse(Array(text.utf8))
        let classes = RegionClassifier.classify(regions, executable: "/usr/bin/prog").classes
        XCTAssertEqual(classes, [.programText, .programText, .programText, .programData, .programData, .allocated,
                                 .allocated, .reserved, .reserved, .stack, .dllText, .dllText, .dllData, .dllData,
                                 .shared, .mappedFile, .stack, .kernel])
        let t = RegionClassifier.totals(regions, classes)
        XCTAssertEqual(t.text, 0x3000 + 0x100000)
        XCTAssertEqual(t.data, 0x3000 + 0x2000 + 0xE000)
        XCTAssertEqual(t.stack, 0x100000 + 0x21000)
        XCTAssertEqual(t.dynamic, 0x100000 + 0x21000)
        XCTAssertEqual(t.shared, 0x400000)

        let libs = Libraries.from(regions, classes)
        XCTAssertEqual(libs, [Library(path: "/usr/lib/libc.so.6", textStart: 0x7f2000010000, textSize: 0xF0000,
                                      dataStart: 0x7f2000100000, dataSize: 0x10000)])
    }

    func testStackPointerMarksAThreadStack() throws {
        let text = """
            7f0000000000-7f0000800000 rw-p 00000000 00:00 0 
            7f0000800000-7f0000900000 rw-p 00000000 00:00 0 
            """
        let regions = try MapsParser.parse(Array(text.utf8))
        XCTAssertEqual(RegionClassifier.classify(regions, executable: nil, stackPointers: [0x7f00007fff00]).classes,
                       [.stack, .allocated])
    }

    /// The kernel merged heap memory into a library's .bss mapping: the program
    /// headers say where .bss ends, and the rest is Dynamic.
    func testMergedBssTailIsSplitAtTheSegmentEnd() throws {
        let text = """
            7f2000010000-7f2000100000 r-xp 00010000 fe:01 20 /usr/lib/libx.so
            7f2000100000-7f2000102000 rw-p 00100000 fe:01 20 /usr/lib/libx.so
            7f2000102000-7f2000110000 rw-p 00000000 00:00 0 
            """
        let regions = try MapsParser.parse(Array(text.utf8))
        let split = RegionClassifier.classify(regions, executable: "/bin/p", dataSegmentEnd: { r in
            r.path == "/usr/lib/libx.so" ? 0x7f2000105000 : nil
        })
        XCTAssertEqual(split.classes, [.dllText, .dllData, .dllData, .allocated])
        XCTAssertEqual(split.regions[2].start, 0x7f2000102000)
        XCTAssertEqual(split.regions[2].end, 0x7f2000105000)
        XCTAssertEqual(split.regions[3].start, 0x7f2000105000)
        XCTAssertEqual(split.regions[3].end, 0x7f2000110000)
    }
}
