import DripModel
import DripProc
import DripSymbols
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The crashing thread's stack as the dumper logs it (`%OS-DUMPER-7-TRACE_BACK`):
/// RIP, then return addresses found on the stack. Frame pointers cannot be
/// trusted at a crash (glibc is built without them, and a signal raised by
/// raise(3) stops inside libc), so the walk scans the stack from RSP for words
/// that point into executable code right after a call instruction, the way
/// a debugger's heuristic unwinder does. Read through /proc/PID/mem, which
/// the tracer may read while the thread is stopped.
enum TraceBack {
    static func frames(pid: Int32, registers: Registers, maxFrames: Int = 24) -> [UInt64] {
        guard let regions = try? ProcessReader().regions(pid) else { return [registers.rip] }
        let executable = regions.filter { $0.permissions.execute }
        func isCode(_ a: UInt64) -> Bool { executable.contains { a >= $0.start && a < $0.end } }
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [registers.rip] }
        defer { close(fd) }
        func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(Int64(bitPattern: address))) }
            return n == count ? buffer : nil
        }
        var frames = [registers.rip]
        // The stack mapping holding RSP bounds the scan.
        let sp = registers.rsp
        guard let stack = regions.first(where: { sp >= $0.start && sp < $0.end }) else { return frames }
        let end = min(stack.end, sp + 256 * 1024)
        var address = sp & ~7
        let chunk = 64 * 1024
        while address < end && frames.count < maxFrames {
            let count = Int(min(UInt64(chunk), end - address))
            guard let bytes = read(address, count) else { break }
            bytes.withUnsafeBytes { raw in
                for i in stride(from: 0, to: count - 7, by: 8) where frames.count < maxFrames {
                    let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    guard word > 16, word != frames.last, isCode(word), let code = read(word - 7, 7), Self.followsCall(code)
                    else { continue }
                    frames.append(word)
                }
            }
            address += UInt64(count)
        }
        return frames
    }

    /// True when the 7 bytes before a return address end with a call instruction:
    /// `e8 rel32`, or `ff /2` (call through a register or memory) of 2 to 7 bytes.
    static func followsCall(_ b: [UInt8]) -> Bool {
        guard b.count == 7 else { return false }
        if b[2] == 0xE8 { return true }
        for length in 2...7 {
            let i = 7 - length
            guard b[i] == 0xFF, (b[i + 1] >> 3) & 7 == 2 else { continue }
            let modrm = b[i + 1], mod = modrm >> 6, rm = modrm & 7
            let sib: UInt8? = i + 2 < 7 ? b[i + 2] : nil
            var expected: Int
            switch mod {
            case 3: expected = 2
            case 0:
                if rm == 5 { expected = 6 } else if rm == 4 { expected = 3 + ((sib ?? 0) & 7 == 5 ? 4 : 0) } else { expected = 2 }
            case 1: expected = rm == 4 ? 4 : 3
            default: expected = rm == 4 ? 7 : 6
            }
            if expected == length { return true }
        }
        return false
    }

    /// `#0  0x7f..  func+0x1a (libc.so.6)` lines, symbolized.
    static func lines(pid: Int32, frames: [UInt64], symbolizer: Symbolizer) -> [String] {
        guard let regions = try? ProcessReader().regions(pid) else {
            return frames.enumerated().map { "#\($0.offset)  0x\(String($0.element, radix: 16))" }
        }
        let map = ModuleMap(regions: regions, pid: pid)
        // Return addresses point after the call: look up the call itself.
        let lookups = frames.enumerated().map { $0.offset == 0 ? $0.element : $0.element - 1 }
        let symbolized = symbolizer.symbolize(lookups, in: map)
        return zip(frames, symbolized).enumerated().map { i, pair in
            let (address, frame) = pair
            return "#\(i)  0x\(String(address, radix: 16))  \(frame.description)"
        }
    }
}
