#if canImport(Glibc)
import Glibc
#endif

// glibc declares process_vm_readv only under _GNU_SOURCE, which Swift's Glibc
// module does not define; the symbol itself is in every glibc since 2.15.
@_silgen_name("process_vm_readv")
private func processVMReadv(_ pid: pid_t, _ local: UnsafePointer<iovec>?, _ localCount: UInt,
                            _ remote: UnsafePointer<iovec>?, _ remoteCount: UInt, _ flags: UInt) -> Int

/// Reads another process's memory with process_vm_readv: no ptrace stop, no fd
/// in the target, many ranges per system call. The one place drip calls it.
public struct RemoteMemory: Sendable {
    public let pid: Int32

    public init(pid: Int32) { self.pid = pid }
    /// IOV_MAX: the kernel takes at most this many ranges per call.
    public static let maxRanges = 1024

    public struct Range: Sendable {
        public var address: UInt64
        public var count: Int
        public init(address: UInt64, count: Int) { self.address = address; self.count = count }
    }

    public enum ReadError: Error, Sendable { case fault, gone, denied, other(Int32) }

    /// Reads `count` bytes at `address` into a new array.
    public func read(_ address: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { buffer throws in try read(address, into: buffer) }
        return bytes
    }

    public func read(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard buffer.count > 0 else { return }
        var local = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(address)), iov_len: buffer.count)
        let n = processVMReadv(pid, &local, 1, &remote, 1, 0)
        if n < 0 { throw Self.error(errno) }
        if n != buffer.count { throw ReadError.fault }
    }

    /// Reads each range into its own slice of `buffer` (ranges laid end to end).
    /// Returns the bytes actually read per range; a range that faults (memory
    /// unmapped meanwhile) reads short, and the rest of the batch is retried.
    public func read(_ ranges: [Range], into buffer: UnsafeMutableRawBufferPointer) throws -> [Int] {
        var got = [Int](repeating: 0, count: ranges.count)
        var offsets = [Int](repeating: 0, count: ranges.count)
        var total = 0
        for (i, r) in ranges.enumerated() { offsets[i] = total; total += r.count }
        precondition(total <= buffer.count)
        var start = 0
        while start < ranges.count {
            let end = min(start + Self.maxRanges, ranges.count)
            var locals = (start..<end).map { iovec(iov_base: buffer.baseAddress! + offsets[$0], iov_len: ranges[$0].count) }
            var remotes = (start..<end).map {
                iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(ranges[$0].address)), iov_len: ranges[$0].count)
            }
            let n = processVMReadv(pid, &locals, UInt(locals.count), &remotes, UInt(remotes.count), 0)
            if n < 0 {
                if errno == EFAULT {
                    // The first range faulted: it reads short; carry on after it.
                    start += 1
                    continue
                }
                throw Self.error(errno)
            }
            // A partial read stops at the first range that faulted.
            var remaining = n
            var i = start
            while i < end, remaining >= ranges[i].count {
                got[i] = ranges[i].count
                remaining -= ranges[i].count
                i += 1
            }
            if i < end { got[i] = remaining; start = i + 1 } else { start = end }
        }
        return got
    }

    static func error(_ code: Int32) -> ReadError {
        switch code {
        case EFAULT: return .fault
        case ESRCH: return .gone
        case EPERM, EACCES: return .denied
        default: return .other(code)
        }
    }
}
