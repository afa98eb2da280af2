import CDripPtrace
@testable import DripCoreDump
import DripModel
import DripTestSupport
import Foundation
import XCTest

/// The pure parts: layout, notes, filter, names, restart rule, stack walk.
final class CoreLayoutTests: XCTestCase {
    func region(_ start: UInt64, _ end: UInt64, _ perms: String, path: String = "", inode: UInt64 = 0,
                offset: UInt64 = 0, flags: [String] = [], rss: UInt64 = 4096, anonymous: UInt64 = 0) -> Region {
        let p = Array(perms)
        return Region(start: start, end: end,
                      permissions: .init(read: p[0] == "r", write: p[1] == "w", execute: p[2] == "x", shared: p[3] == "s"),
                      offset: offset, inode: inode, path: path,
                      usage: Region.Usage(rss: rss, anonymous: anonymous, flags: flags))
    }

    func thread(_ tid: Int32, rip: UInt64) -> CapturedThread {
        var regs = [UInt8](repeating: 0, count: 216)
        withUnsafeBytes(of: rip.littleEndian) { regs.replaceSubrange(Register.rip.rawValue * 8..<Register.rip.rawValue * 8 + 8, with: $0) }
        return CapturedThread(tid: tid, registers: regs, floatingPoint: [UInt8](repeating: 1, count: 512),
                              xstate: [UInt8](repeating: 2, count: 1088))
    }

    func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }

    func testLayoutHasHeaderNoteAndLoadsInKernelOrder() {
        let process = CapturedProcess(pid: 100, comm: "demo", commandLine: ["demo", "-x"], executable: "/bin/demo",
                                      auxv: [UInt8](repeating: 0, count: 32))
        let segments = [
            CoreSegment(region: region(0x400000, 0x401000, "r--p", path: "/bin/demo", inode: 7), fileSize: 4096),
            CoreSegment(region: region(0x600000, 0x603000, "rw-p"), fileSize: 0x3000),
            CoreSegment(region: region(0x700000, 0x800000, "rw-p", flags: ["dd"]), fileSize: 0),
        ]
        let layout = CoreLayout.make(process: process, threads: [thread(100, rip: 0x401234), thread(101, rip: 0x401000)],
                                     segments: segments)
        let b = layout.prefix
        XCTAssertEqual(Array(b[0..<4]), [0x7F, 0x45, 0x4C, 0x46])
        XCTAssertEqual(u16(b, 16), 4, "ET_CORE")
        XCTAssertEqual(u16(b, 18), 62, "EM_X86_64")
        XCTAssertEqual(u16(b, 56), 4, "PT_NOTE + 3 PT_LOAD")
        XCTAssertEqual(u32(b, 64), 4, "PT_NOTE first")
        XCTAssertEqual(b.count % 4096, 0, "data starts on a page")
        var offsets: [UInt64] = []
        for i in 1...3 {
            let ph = 64 + 56 * i
            XCTAssertEqual(u32(b, ph), 1)
            offsets.append(u64(b, ph + 8))
            XCTAssertEqual(u64(b, ph + 16), segments[i - 1].region.start)
            XCTAssertEqual(u64(b, ph + 32), segments[i - 1].fileSize)
            XCTAssertEqual(u64(b, ph + 40), segments[i - 1].region.size)
        }
        XCTAssertEqual(offsets, [UInt64(b.count), UInt64(b.count) + 4096, UInt64(b.count) + 4096 + 0x3000])
        XCTAssertEqual(layout.totalSize, UInt64(b.count) + 4096 + 0x3000)

        // Note order: thread 1 prstatus, the process notes, its fp/xstate; thread 2 prstatus, fp, xstate.
        var types: [UInt32] = []
        var o = Int(u64(b, 64 + 8))
        let end = o + Int(u64(b, 64 + 32))
        var firstPrstatusPid: UInt32?
        while o < end {
            let namesz = Int(u32(b, o)), descsz = Int(u32(b, o + 4)), type = u32(b, o + 8)
            types.append(type)
            let desc = o + 12 + ((namesz + 3) & ~3)
            if type == 1, firstPrstatusPid == nil {
                XCTAssertEqual(descsz, 336)
                firstPrstatusPid = u32(b, desc + 32)
                XCTAssertEqual(u64(b, desc + 112 + Register.rip.rawValue * 8), 0x401234)
            }
            o = desc + ((descsz + 3) & ~3)
        }
        XCTAssertEqual(types, [1, 3, 6, UInt32(DRIP_NT_FILE), 2, 0x202, 1, 2, 0x202])
        XCTAssertEqual(firstPrstatusPid, 100)
    }

    func testFileNoteListsFileMappings() {
        let note = CoreNotes.fileNote([region(0x1000, 0x3000, "r-xp", path: "/lib/x.so", inode: 3, offset: 0x2000),
                                       region(0x5000, 0x6000, "rw-p")])
        XCTAssertEqual(u64(note, 0), 1)
        XCTAssertEqual(u64(note, 8), 4096)
        XCTAssertEqual([u64(note, 16), u64(note, 24), u64(note, 32)], [0x1000, 0x3000, 2])
        XCTAssertEqual(String(decoding: note[40...].dropLast(), as: UTF8.self), "/lib/x.so")
    }

    func testFilterFollowsTheKernelRules() {
        let f = DumpFilter.kernelDefault
        XCTAssertEqual(f.fileSize(region(0, 0x10000, "rw-p")), 0x10000, "touched anonymous private")
        XCTAssertEqual(f.fileSize(region(0, 0x10000, "rw-p", rss: 0)), 0, "never touched: all zeros")
        XCTAssertEqual(f.fileSize(region(0, 0x10000, "rw-p", flags: ["rd", "wr", "dd"])), 0, "MADV_DONTDUMP")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "r--p", path: "/lib/x.so", inode: 3)), 4096, "ELF header page")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "r-xp", path: "/lib/x.so", inode: 3, offset: 0x1000)), 0, "text")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "rw-p", path: "/lib/x.so", inode: 3, offset: 0x3000, anonymous: 4096)),
                       0x2000, "written .data")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "rw-s", path: "/data/file", inode: 9)), 0, "file shared: bit 3 off")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "rw-s", path: "/dev/zero (deleted)", inode: 9)), 0x2000, "anon shared")
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "r-xp", path: "[vdso]")), 0x2000)
        XCTAssertEqual(f.fileSize(region(0, 0x2000, "r--p", path: "[vvar]", flags: ["io", "pf"])), 0)
        XCTAssertEqual(DumpFilter(bits: 0x37).fileSize(region(0, 0x2000, "r-xp", path: "/lib/x.so", inode: 3, offset: 0x1000)),
                       0x2000, "bit 2: file private")
        XCTAssertEqual(DumpFilter.parse("00000033\n"), .kernelDefault)
    }

    func testInterruptedSystemCallsAreRestartedByHand() {
        var r = user_regs_struct()
        r.orig_rax = 230 // clock_nanosleep
        r.rax = UInt64(bitPattern: -Int64(DRIP_ERESTART_RESTARTBLOCK))
        r.rip = 0x1002
        var out = SyscallInjector.restarted(r)
        XCTAssertEqual(out.rax, UInt64(DRIP_SYS_RESTART_SYSCALL))
        XCTAssertEqual(out.rip, 0x1000)
        XCTAssertEqual(out.orig_rax, UInt64.max)
        r.rax = UInt64(bitPattern: -Int64(DRIP_ERESTARTSYS))
        out = SyscallInjector.restarted(r)
        XCTAssertEqual(out.rax, 230)
        XCTAssertEqual(out.rip, 0x1000)
        r.rax = 0 // completed: left alone
        out = SyscallInjector.restarted(r)
        XCTAssertEqual(out.rax, 0)
        XCTAssertEqual(out.rip, 0x1002)
        r.orig_rax = UInt64.max // not in a system call
        r.rax = UInt64(bitPattern: -Int64(DRIP_ERESTARTSYS))
        XCTAssertEqual(SyscallInjector.restarted(r).rip, 0x1002)
    }

    func testNamesFollowTheDumperConvention() {
        let date = Date(timeIntervalSince1970: 1_764_216_000) // 2025-11-27 04:00:00 UTC
        XCTAssertEqual(DumpName.stem(process: "snmpd", jid: 1113, requester: "drip", host: "node0.example", date: date),
                       "snmpd_1113.by.drip.node0_example.20251127-040000")
    }

    func testStackWalkFollowsFramePointersAndScans() {
        // Code at 0x1000-0x2000 with calls (e8) ending at 0x1105 and 0x1205; stack at 0x8000-0x9000.
        var code = [UInt8](repeating: 0x90, count: 0x1000)
        code[0x100] = 0xE8
        code[0x200] = 0xE8
        var stack = [UInt8](repeating: 0, count: 0x1000)
        func put(_ at: Int, _ v: UInt64) { for k in 0..<8 { stack[at + k] = UInt8((v >> (8 * UInt64(k))) & 0xFF) } }
        put(0x10, 0x1105)         // a frameless caller's return address, below rbp
        put(0x40, 0x8080)         // frame at 0x8040: saved rbp, return address
        put(0x48, 0x1205)
        put(0x80, 0)              // outermost frame
        put(0x88, 0)
        let regions = [region(0x1000, 0x2000, "r-xp", path: "/bin/x", inode: 1), region(0x8000, 0x9000, "rw-p")]
        let walker = StackWalker(regions: regions) { address, count in
            if address >= 0x1000, address + UInt64(count) <= 0x2000 { return Array(code[Int(address - 0x1000)..<Int(address - 0x1000) + count]) }
            if address >= 0x8000, address + UInt64(count) <= 0x9000 { return Array(stack[Int(address - 0x8000)..<Int(address - 0x8000) + count]) }
            return nil
        }
        let frames = walker.walk(rip: 0x1300, rsp: 0x8000, rbp: 0x8040)
        XCTAssertEqual(frames, [StackFrame(address: 0x1300, source: .pc), StackFrame(address: 0x1105, source: .scan),
                                StackFrame(address: 0x1205, source: .fp)])
    }
}

/// End to end: the real drip binary, real fixture processes, real gdb.
final class CoreDumpCLITests: XCTestCase {
    var state = ""
    var dumps = ""
    let fixturePath = BuiltProducts.path("fixture-threads")

    override func setUpWithError() throws {
        state = try temporaryDirectory("core-state")
        dumps = state + "/dumps-out"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: state) }

    func drip(_ args: [String], environment: [String: String] = [:]) throws -> DripRun {
        var env = ["DRIP_DUMP_DIR": dumps]
        for (k, v) in environment { env[k] = v }
        return try DripRun.run(args, stateDir: state, environment: env)
    }

    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try runTool(tool, args)
    }

    /// /proc/PID/status State and TracerPid.
    func runState(_ pid: Int32) -> (state: String, tracer: String) {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ k: String) -> String {
            text.split(separator: "\n").first { $0.hasPrefix(k + ":") }.map {
                $0.dropFirst(k.count + 1).trimmingCharacters(in: .whitespaces)
            } ?? "?"
        }
        return (field("State"), field("TracerPid"))
    }

    func assertRunningAndUntraced(_ pid: Int32, file: StaticString = #filePath, line: UInt = #line) {
        let s = runState(pid)
        XCTAssertFalse(s.state.hasPrefix("t") || s.state.hasPrefix("T"), "stopped: \(s.state)", file: file, line: line)
        XCTAssertEqual(s.tracer, "0", "still traced", file: file, line: line)
    }

    /// Children of a process (a leftover frozen copy would be one).
    func children(of pid: Int32) -> [Int32] {
        let path = "/proc/\(pid)/task/\(pid)/children"
        return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
    }

    func latestCount(_ f: FixtureProcess, _ function: String) throws -> Int {
        while true {
            let line = try f.waitFor("tick fn=\(function) ")
            if let n = line.split(separator: "=").last.flatMap({ Int($0) }) { return n }
        }
    }

    func decompress(_ core: String) throws -> String {
        let plain = String(core.dropLast(4))
        let z = try Self.run("zstd", ["-q", "-d", "-f", core, "-o", plain])
        XCTAssertEqual(z.status, 0, z.output)
        return plain
    }

    func gdbThreads(_ core: String) throws -> String {
        let plain = try decompress(core)
        let g = try Self.run("gdb", ["-nx", "-batch", "-ex", "info threads", "-ex", "thread apply all bt", fixturePath, plain])
        return g.output
    }

    func testRunningCoreLetsTheProcessRunAndGdbSeesEveryThread() throws {
        let f = try FixtureProcess(fixturePath, ["--threads", "4"])
        let before = try latestCount(f, "spin_alpha")
        let run = try drip(["core", "pid:\(f.pid)", "--json", "--md5"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        let core = try XCTUnwrap(json["core"] as? String)
        let text = try XCTUnwrap(json["text"] as? String)
        XCTAssertTrue(core.hasSuffix(".core.zst") && core.hasPrefix(dumps + "/fixture-threads_"), core)
        XCTAssertTrue(core.contains(".by.drip."), core)
        XCTAssertEqual(json["threads"] as? Int, 5)
        XCTAssertEqual(json["mode"] as? String, "running")
        let md5 = try XCTUnwrap(json["md5"] as? String)
        XCTAssertEqual(md5.count, 32)
        let sum = Process()
        sum.executableURL = URL(fileURLWithPath: "/usr/bin/md5sum")
        sum.arguments = [core]
        let pipe = Pipe()
        sum.standardOutput = pipe
        try sum.run()
        let oracle = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        sum.waitUntilExit()
        XCTAssertTrue(oracle.hasPrefix(md5), "md5 of the file as written: \(oracle) vs \(md5)")
        XCTAssertGreaterThan(json["bytes"] as? Int ?? 0, 0)
        let pause = try XCTUnwrap(json["pause_ms"] as? Double), total = try XCTUnwrap(json["total_ms"] as? Double)
        XCTAssertGreaterThan(pause, 0)
        XCTAssertLessThan(pause, total)

        // The process kept running, untraced, with no child left behind.
        assertRunningAndUntraced(f.pid)
        XCTAssertEqual(children(of: f.pid), [], "the frozen copy was reaped")
        var after = try latestCount(f, "spin_alpha")
        while after <= before + 2 { after = try latestCount(f, "spin_alpha") }
        XCTAssertGreaterThan(after, before)

        let gdb = try gdbThreads(core)
        let threadLines = gdb.split(separator: "\n").filter { $0.range(of: #"^\*?\s+\d+\s+Thread "#, options: .regularExpression) != nil || $0.range(of: #"^\*?\s+\d+\s+LWP "#, options: .regularExpression) != nil }
        XCTAssertEqual(threadLines.count, 5, gdb)
        for function in ["spin_alpha", "spin_bravo", "spin_charlie", "spin_delta", "main_wait"] {
            XCTAssertTrue(gdb.contains(function), "gdb bt lacks \(function):\n\(gdb)")
        }
        XCTAssertFalse(gdb.contains("is truncated"), gdb)

        let report = try String(contentsOfFile: text, encoding: .utf8)
        for function in ["spin_alpha", "spin_bravo", "spin_charlie", "spin_delta"] {
            XCTAssertTrue(report.contains(function), "report lacks \(function)")
        }
        XCTAssertTrue(report.contains("Address map"), report)
        XCTAssertTrue(report.contains("pid \(f.pid)"))
    }

    func testSuspendedCoreAndTheDumpcoreAlias() throws {
        let f = try FixtureProcess(fixturePath, ["--threads", "2"])
        let run = try drip(["dumpcore", "suspended", "pid:\(f.pid)", "-o", dumps + "/s", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        XCTAssertEqual(json["mode"] as? String, "suspended")
        XCTAssertEqual(json["threads"] as? Int, 3)
        let core = try XCTUnwrap(json["core"] as? String)
        XCTAssertTrue(core.hasPrefix(dumps + "/s/"))
        assertRunningAndUntraced(f.pid)
        let gdb = try gdbThreads(core)
        XCTAssertTrue(gdb.contains("spin_alpha") && gdb.contains("spin_bravo"), gdb)

        let human = try drip(["dumpcore", "running", "pid:\(f.pid)"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdout.contains("Pause:"), human.stdout)
        XCTAssertFalse(human.stdout.contains("md5"), "no md5 unless --md5: \(human.stdout)")
        let hashed = try drip(["dumpcore", "running", "pid:\(f.pid)", "--md5", "-o", dumps + "/h"])
        XCTAssertEqual(hashed.status, 0, hashed.stderr)
        XCTAssertNotNil(hashed.stdout.range(of: #"md5 [0-9a-f]{32}"#, options: .regularExpression), hashed.stdout)
    }

    func testUnknownProcessIsOneLineAndNonZero() throws {
        let run = try drip(["core", "pid:999999"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("drip: "), run.stderr)
    }

    func testUnwritableDirectoryFailsBeforeTouchingTheProcess() throws {
        let f = try FixtureProcess(fixturePath, ["--threads", "2"])
        let run = try drip(["core", "pid:\(f.pid)"], environment: ["DRIP_DUMP_DIR": "/proc/version/dumps"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("/proc/version/dumps"), run.stderr)
        assertRunningAndUntraced(f.pid)
    }

    /// A write that fails mid-dump (here a file-size limit, as a full disk would):
    /// one line, the process running and untraced, no copy and no files left.
    func testFailedWriteMidDumpUndoesEverything() throws {
        let f = try FixtureProcess(fixturePath, ["--threads", "2", "--heap", "64"])
        for mode in ["running", "suspended"] {
            let drip = BuiltProducts.path("drip")
            let run = try shell("ulimit -f 16384; exec \"$0\" dumpcore \(mode) pid:\(f.pid)", drip)
            XCTAssertNotEqual(run.status, 0, mode)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("cannot write"), run.stderr)
            assertRunningAndUntraced(f.pid)
            XCTAssertEqual(children(of: f.pid), [], "no frozen copy left (\(mode))")
            XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: dumps)) ?? [], [], "partial files removed")
        }
        _ = try latestCount(f, "spin_alpha")
    }

    func testDontDumpRegionHasNoBytesInTheCore() throws {
        let f = try FixtureProcess(fixturePath, ["--threads", "1"])
        let keep = try XCTUnwrap(f.facts["keep"].flatMap { UInt64($0.dropFirst(2), radix: 16) })
        let dontdump = try XCTUnwrap(f.facts["dontdump"].flatMap { UInt64($0.dropFirst(2), radix: 16) })
        let run = try drip(["core", "pid:\(f.pid)", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let plain = try decompress(try XCTUnwrap(try run.json()["core"] as? String))
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain)))
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(data[o + $1]) << (8 * UInt64($1)) } }
        let phnum = Int(data[56]) | Int(data[57]) << 8
        var found: [UInt64: (offset: UInt64, filesz: UInt64, memsz: UInt64)] = [:]
        for i in 0..<phnum {
            let ph = 64 + 56 * i
            guard data[ph] == 1 else { continue }
            let vaddr = u64(ph + 16), memsz = u64(ph + 40)
            for a in [keep, dontdump] where a >= vaddr && a < vaddr + memsz {
                found[a] = (u64(ph + 8) + (a - vaddr), u64(ph + 32), memsz)
            }
        }
        let d = try XCTUnwrap(found[dontdump], "the MADV_DONTDUMP mapping still has a program header")
        XCTAssertEqual(d.filesz, 0)
        let k = try XCTUnwrap(found[keep])
        XCTAssertEqual(k.filesz, k.memsz)
        XCTAssertEqual(data[Int(k.offset)], 0x4B)
        XCTAssertEqual(data[Int(k.offset) + (1 << 20) - 1], 0x4B)
        XCTAssertFalse(data.count > 0 && containsRun(data, of: 0x44, length: 1 << 16), "DONTDUMP bytes found in the core")
    }

    /// Runs `sh -c script arg0` with the test's state and dump directories.
    func shell(_ script: String, _ arg0: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, arg0]
        var env = ProcessInfo.processInfo.environment
        env["DRIP_STATE_DIR"] = state
        env["DRIP_DUMP_DIR"] = dumps
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func containsRun(_ data: [UInt8], of byte: UInt8, length: Int) -> Bool {
        var run = 0
        for b in data {
            run = b == byte ? run + 1 : 0
            if run >= length { return true }
        }
        return false
    }
}
