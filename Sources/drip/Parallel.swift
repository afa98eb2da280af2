import Dispatch

/// Maps `items` on every core, keeping their order. /proc reads are mostly
/// kernel time spent formatting maps, so two cores halve `drip ps`.
func parallelMap<T: Sendable, R: Sendable>(_ items: [T], _ body: @Sendable (T) -> R) -> [R] {
    let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: items.count)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    nonisolated(unsafe) let slots = results
    let workers = min(items.count, 16)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        // Interleaved so that each worker gets a share of the (pid-ordered, often similar) processes.
        var i = worker
        while i < items.count {
            slots[i] = body(items[i])
            i += workers
        }
    }
    return results.map { $0! }
}
