import DripModel
import Synchronization

/// Remembers each module's program headers for one run, so that a thousand
/// processes mapping the same libc read its headers once.
public final class DataSegmentCache: Sendable {
    private let segments = Mutex<[String: [ELFSegment]?]>([:])

    public init() {}

    /// The end of the writable segment that `mapping` (a module's writable file
    /// mapping) belongs to; nil when the file cannot be read.
    public func dataSegmentEnd(_ mapping: Region) -> UInt64? {
        let path = mapping.path
        let cached = segments.withLock { $0[path] }
        let headers: [ELFSegment]?
        if let cached {
            headers = cached
        } else {
            // Read outside the lock; two threads may both read a file once, harmlessly.
            headers = try? ELFFile.programHeaders(atPath: path)
            segments.withLock { $0[path] = .some(headers) }
        }
        guard let headers else { return nil }
        return ELFFile.dataSegmentEnd(headers, mappingStart: mapping.start, mappingOffset: mapping.offset)
    }
}
