import DripModel

/// One frame of a thread's backtrace in the text report, and how it was found.
public struct StackFrame: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// The saved instruction pointer.
        case pc
        /// A return address found by following the saved-rbp chain.
        case fp
        /// A stack word that points just after a call instruction in executable
        /// code: probably a return address, possibly stale.
        case scan
    }
    public var address: UInt64
    public var source: Source

    public init(address: UInt64, source: Source) { self.address = address; self.source = source }
}

/// Backtraces without debug info: the frame-pointer chain from the saved
/// registers, plus a scan of the stack for return addresses. The scan covers
/// frames of functions built without frame pointers (most of libc): it runs
/// between RSP and the first frame pointer, or over the top of the stack when
/// RBP is not a frame pointer at all. gdb on the core unwinds with DWARF CFI
/// and is the authority; these frames make the text report useful on its own.
public struct StackWalker {
    /// Reads `count` bytes at an address of the frozen image; nil when unreadable.
    public typealias Read = (UInt64, Int) -> [UInt8]?

    let regions: [Region]
    let read: Read
    public var maxFrames = 48
    /// How far above RSP the fallback scan looks.
    public var scanBytes: UInt64 = 32 * 1024

    public init(regions: [Region], read: @escaping Read) {
        self.regions = regions.sorted { $0.start < $1.start }
        self.read = read
    }

    public func walk(rip: UInt64, rsp: UInt64, rbp: UInt64) -> [StackFrame] {
        var frames = [StackFrame(address: rip, source: .pc)]
        guard let stack = region(containing: rsp) else { return frames }
        let fpUsable = rbp >= rsp && rbp + 16 <= stack.end
        let scanEnd = fpUsable ? rbp : min(stack.end, rsp + scanBytes)
        for word in words(from: rsp, to: scanEnd) where isReturnAddress(word) {
            frames.append(StackFrame(address: word, source: .scan))
            if frames.count >= maxFrames { return frames }
        }
        guard fpUsable else { return frames }
        var fp = rbp
        while frames.count < maxFrames, fp >= rsp, fp + 16 <= stack.end {
            let pair = words(from: fp, to: fp + 16)
            guard pair.count == 2, isCode(pair[1]) else { break }
            frames.append(StackFrame(address: pair[1], source: .fp))
            guard pair[0] > fp else { break }
            fp = pair[0]
        }
        return frames
    }

    func words(from start: UInt64, to end: UInt64) -> [UInt64] {
        let start = (start + 7) & ~7
        guard end > start, let bytes = read(start, Int(end - start)) else { return [] }
        return stride(from: 0, to: bytes.count - 7, by: 8).map { i in
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            return v
        }
    }

    func region(containing address: UInt64) -> Region? {
        regions.first { $0.contains(address) }
    }

    func isCode(_ address: UInt64) -> Bool {
        guard let r = region(containing: address) else { return false }
        return r.permissions.execute && r.permissions.read
    }

    /// A code address right after a call: `e8 rel32` (5 bytes back) or
    /// `ff /2` with a 2-, 3-, 4-, 6- or 7-byte encoding.
    func isReturnAddress(_ address: UInt64) -> Bool {
        guard address >= 8, isCode(address), isCode(address - 7) || isCode(address - 5),
              let before = read(address - 7, 7), before.count == 7 else { return false }
        if before[2] == 0xE8 { return true }
        for back in [2, 3, 4, 6, 7] {
            let i = 7 - back
            if before[i] == 0xFF, i + 1 < 7, (before[i + 1] >> 3) & 7 == 2 { return true }
            // With a REX prefix (41 ff d0: call *%r8).
            if back >= 3, before[i] & 0xF0 == 0x40, before[i + 1] == 0xFF, (before[i + 2] >> 3) & 7 == 2 { return true }
        }
        return false
    }
}
