import CDripAgentFormat
import DripModel
import DripProc
import DripSymbols
import Foundation
import Synchronization

/// The agent's tables as read out of a live process, before symbols: call
/// counters, the live blocks summed per stack, and the stacks themselves.
public struct AgentTables: Sendable {
    public var pid: Int32
    public var sampled: Bool
    public var sampleBytes: UInt64
    public var limit: UInt64?
    public var counters: HeapCounters
    public var untrackedBlocks: UInt64
    public var untrackedBytes: UInt64
    public var unknownFrees: UInt64
    public var stacksDropped: UInt64
    public var agentBytes: UInt64
    /// Bytes the agent itself has mmap'd (its tables); 0 = unknown (older agent).
    public var agentMappedBytes: UInt64 = 0
    /// Live blocks per stack id (index): count, requested bytes, bytes with overhead.
    /// In sampled mode these are weighted estimates.
    public var perStack: [StackTotals]
    /// Frames of each stack id, innermost first (return addresses).
    public var stacks: [[UInt64]]
    /// Every live block, when asked for.
    public var blocks: [Block]?
    /// Shards whose copy stayed inconsistent after retries (the target was very busy).
    public var unsettledShards: Int

    public struct StackTotals: Sendable {
        public var blocks: Double = 0
        public var bytes: Double = 0
        public var size: Double = 0
    }

    public struct Block: Sendable {
        public var address: UInt64
        public var size: UInt64
        public var stack: UInt32
    }
}

/// Finds and reads the agent in a process.
public struct AgentReader: Sendable {
    public init() {}

    /// DRIP_AGENT_SIZE_MASK, which Swift cannot import (a macro with a cast).
    static let sizeMask: UInt64 = (1 << UInt64(DRIP_AGENT_SIZE_BITS)) - 1

    /// The runtime address of `drip_agent_state`, or nil when the agent is not loaded.
    public func stateAddress(pid: Int32, regions: [Region]) throws -> UInt64? {
        let suffix = "/" + HeapAgent.libraryName
        // Only the agent's own mappings: the module map reads each object it places.
        let agentRegions = regions.filter { $0.path.hasSuffix(suffix) || $0.path.hasSuffix(suffix + " (deleted)") }
        guard let module = ModuleMap(regions: agentRegions, pid: pid).modules.first else { return nil }
        guard let value = try Self.stateSymbols.value(in: module.objectPath) else {
            throw HeapError.incompatibleAgent(pid: pid, reason: "\(module.path) has no \(DRIP_AGENT_STATE_SYMBOL) symbol")
        }
        return module.runtimeAddress(ofFile: value)
    }

    /// `drip ps` looks the symbol up for every agent process; they mostly share one file.
    static let stateSymbols = StateSymbolCache()

    final class StateSymbolCache: Sendable {
        private let values = Mutex<[String: UInt64?]>([:])

        func value(in path: String) throws -> UInt64? {
            if let known = values.withLock({ $0[path] }) { return known }
            let value = try ELFFile(contentsOf: path).symbol(named: DRIP_AGENT_STATE_SYMBOL)?.value
            values.withLock { $0[path] = .some(value) }
            return value
        }
    }

    /// Only the counters: cheap enough for `drip ps` and `drip compare` on every agent process.
    public func counters(pid: Int32, stateAddress: UInt64) throws -> HeapCounters {
        let memory = RemoteMemory(pid: pid)
        let state = try readState(memory, at: stateAddress)
        return try threadTotals(memory, state).counters(state)
    }

    /// Everything: counters, per-stack totals, stacks, and optionally every block.
    public func tables(pid: Int32, stateAddress: UInt64, withBlocks: Bool = false) throws -> AgentTables {
        let memory = RemoteMemory(pid: pid)
        let state = try readState(memory, at: stateAddress)
        let (slotsByShard, unsettled) = try readBlocks(memory, state)
        // Stacks after blocks: every id a block names is published by then.
        let stacks = try readStacks(memory, state)
        let totals = try threadTotals(memory, state)

        let sampled = state.mode == DRIP_AGENT_MODE_SAMPLED
        let period = Double(state.sample_bytes)
        var perStack = [AgentTables.StackTotals](repeating: .init(), count: max(stacks.count, 1))
        var blocks: [AgentTables.Block]? = withBlocks ? [] : nil
        for slots in slotsByShard {
            for slot in slots where slot.addr != 0 {
                let size = slot.meta & Self.sizeMask
                var stack = Int(slot.meta >> UInt64(DRIP_AGENT_SIZE_BITS))
                if stack >= perStack.count { stack = Int(DRIP_AGENT_STACK_NONE) }
                // A sampled block stands for 1/p blocks, p = 1 - exp(-size/period) (docs/AGENT.md).
                let weight = sampled && period > 0 ? 1 / (1 - exp(-Double(size) / period)) : 1
                perStack[stack].blocks += weight
                perStack[stack].bytes += weight * Double(size)
                perStack[stack].size += weight * Double(AllocatorOverhead.chunkSize(size))
                blocks?.append(.init(address: slot.addr, size: size, stack: UInt32(stack)))
            }
        }
        return AgentTables(
            pid: pid, sampled: sampled, sampleBytes: state.sample_bytes,
            limit: state.limit_bytes == 0 ? nil : state.limit_bytes, counters: totals.counters(state),
            untrackedBlocks: totals.untrackedBlocks + state.early_allocs + state.recursive_allocs,
            untrackedBytes: totals.untrackedBytes, unknownFrees: totals.unknownFrees,
            stacksDropped: state.stacks_dropped, agentBytes: state.agent_bytes, agentMappedBytes: state.mapped_bytes, perStack: perStack, stacks: stacks,
            blocks: blocks, unsettledShards: unsettled)
    }

    // MARK: reading

    func readState(_ memory: RemoteMemory, at address: UInt64) throws -> drip_agent_state {
        var state = drip_agent_state()
        do {
            try withUnsafeMutableBytes(of: &state) { try memory.read(address, into: $0) }
        } catch { throw mapped(error, memory.pid, "the agent state") }
        guard state.magic == DRIP_AGENT_MAGIC else {
            if state.magic == 0 { throw HeapError.agentNotReady(pid: memory.pid) }
            throw HeapError.incompatibleAgent(pid: memory.pid, reason: "bad magic")
        }
        guard state.version == DRIP_AGENT_FORMAT_VERSION,
              Int(state.state_size) == MemoryLayout<drip_agent_state>.size,
              Int(state.shard_size) == MemoryLayout<drip_agent_shard>.size,
              Int(state.slot_size) == MemoryLayout<drip_agent_slot>.size,
              Int(state.thread_rec_size) == MemoryLayout<drip_agent_thread_rec>.size else {
            throw HeapError.incompatibleAgent(pid: memory.pid, reason: "format version \(state.version), drip reads \(DRIP_AGENT_FORMAT_VERSION)")
        }
        return state
    }

    func readShards(_ memory: RemoteMemory, _ state: drip_agent_state) throws -> [drip_agent_shard] {
        var shards = [drip_agent_shard](repeating: drip_agent_shard(), count: Int(state.shard_count))
        do {
            try shards.withUnsafeMutableBytes { try memory.read(state.shards_addr, into: $0) }
        } catch { throw mapped(error, memory.pid, "the block table") }
        return shards
    }

    /// Copies every shard's slots; a shard that changed while it was copied
    /// (its seq moved or was odd) is copied again, a few times at most.
    func readBlocks(_ memory: RemoteMemory, _ state: drip_agent_state) throws -> ([[drip_agent_slot]], Int) {
        var shards = try readShards(memory, state)
        var result = [[drip_agent_slot]](repeating: [], count: shards.count)
        var pending = Array(shards.indices)
        for attempt in 0..<4 {
            let wanted = pending.filter { shards[$0].slots_addr != 0 && shards[$0].capacity > 0 }
            let ranges = wanted.map {
                RemoteMemory.Range(address: shards[$0].slots_addr,
                                   count: Int(shards[$0].capacity) * MemoryLayout<drip_agent_slot>.stride)
            }
            let total = ranges.reduce(0) { $0 + $1.count }
            var buffer = [drip_agent_slot](repeating: drip_agent_slot(), count: total / MemoryLayout<drip_agent_slot>.stride)
            let got: [Int]
            do {
                got = try buffer.withUnsafeMutableBytes { try memory.read(ranges, into: $0) }
            } catch { throw mapped(error, memory.pid, "the block table") }
            var cursor = 0
            var faulted = Set<Int>()
            for (k, shard) in wanted.enumerated() {
                let n = Int(shards[shard].capacity)
                if got[k] == ranges[k].count {
                    result[shard] = Array(buffer[cursor..<(cursor + n)])
                } else {
                    faulted.insert(shard)  // replaced by a resize while we read it
                }
                cursor += n
            }
            for shard in pending where shards[shard].slots_addr == 0 { result[shard] = [] }
            let after = try readShards(memory, state)
            pending = pending.filter { i in
                faulted.contains(i) || after[i].seq != shards[i].seq || after[i].seq & 1 == 1
            }
            shards = after
            if pending.isEmpty || attempt == 3 { break }
        }
        return (result, pending.count)
    }

    func readStacks(_ memory: RemoteMemory, _ state: drip_agent_state) throws -> [[UInt64]] {
        let used = Int(min(state.stack_dir_used, state.stack_dir_capacity))
        guard used > 0 else { return [[]] }
        var directory = [drip_agent_stack_chunk](repeating: drip_agent_stack_chunk(), count: used)
        do {
            try directory.withUnsafeMutableBytes { try memory.read(state.stack_dir_addr, into: $0) }
        } catch { throw mapped(error, memory.pid, "the stack table") }
        let ranges = directory.map { RemoteMemory.Range(address: $0.addr, count: Int(min($0.used, state.stack_chunk_bytes))) }
        let total = ranges.reduce(0) { $0 + $1.count }
        var bytes = [UInt8](repeating: 0, count: total)
        do {
            _ = try bytes.withUnsafeMutableBytes { try memory.read(ranges, into: $0) }
        } catch { throw mapped(error, memory.pid, "the stack table") }

        var stacks: [[UInt64]] = []
        stacks.reserveCapacity(Int(state.stack_count))
        let header = MemoryLayout<drip_agent_stack_record>.size
        bytes.withUnsafeBytes { raw in
            var chunkStart = 0
            for r in ranges {
                var offset = chunkStart
                let end = chunkStart + r.count
                while offset + header <= end {
                    let id = raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                    let count = Int(raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                    guard count <= Int(DRIP_AGENT_MAX_FRAMES), offset + header + count * 8 <= end,
                          Int(id) == stacks.count else { break }
                    var frames: [UInt64] = []
                    frames.reserveCapacity(count)
                    for f in 0..<count {
                        frames.append(raw.loadUnaligned(fromByteOffset: offset + header + f * 8, as: UInt64.self))
                    }
                    stacks.append(frames)
                    offset += header + count * 8
                }
                chunkStart = end
            }
        }
        return stacks.isEmpty ? [[]] : stacks
    }

    struct ThreadTotals {
        var mallocs: UInt64 = 0, reallocs: UInt64 = 0, frees: UInt64 = 0, unknownFrees: UInt64 = 0
        var allocBlocks: UInt64 = 0, freedBlocks: UInt64 = 0, allocBytes: UInt64 = 0, freedBytes: UInt64 = 0
        var untrackedBlocks: UInt64 = 0, untrackedBytes: UInt64 = 0
        var pending: Int64 = 0

        func counters(_ state: drip_agent_state) -> HeapCounters {
            let live = Int64(bitPattern: state.live_bytes_flushed) &+ pending
            return HeapCounters(mallocs: mallocs, reallocs: reallocs, frees: frees,
                                liveBlocks: allocBlocks &- min(freedBlocks, allocBlocks),
                                liveBytes: UInt64(max(live, 0)),
                                highWatermark: max(state.high_watermark_bytes, UInt64(max(live, 0))))
        }
    }

    func threadTotals(_ memory: RemoteMemory, _ state: drip_agent_state) throws -> ThreadTotals {
        let used = Int(min(state.thread_recs_used, state.thread_recs_capacity))
        var recs = [drip_agent_thread_rec](repeating: drip_agent_thread_rec(), count: used)
        do {
            try recs.withUnsafeMutableBytes { try memory.read(state.thread_recs_addr, into: $0) }
        } catch { throw mapped(error, memory.pid, "the thread counters") }
        var t = ThreadTotals()
        for r in recs {
            t.mallocs &+= r.mallocs; t.reallocs &+= r.reallocs; t.frees &+= r.frees; t.unknownFrees &+= r.unknown_frees
            t.allocBlocks &+= r.alloc_blocks; t.freedBlocks &+= r.freed_blocks
            t.allocBytes &+= r.alloc_bytes; t.freedBytes &+= r.freed_bytes
            t.untrackedBlocks &+= r.untracked_blocks; t.untrackedBytes &+= r.untracked_bytes
            t.pending &+= Int64(bitPattern: r.pending)
        }
        return t
    }

    func mapped(_ error: Error, _ pid: Int32, _ what: String) -> Error {
        guard let e = error as? RemoteMemory.ReadError else { return error }
        switch e {
        case .gone: return HeapError.processGone(pid: pid)
        case .denied: return HeapError.permissionDenied(pid: pid)
        case .fault: return HeapError.unreadable(pid: pid, what: what, errno: EFAULT)
        case .other(let code): return HeapError.unreadable(pid: pid, what: what, errno: code)
        }
    }
}

/// The allocator's footprint of a block: the router's "Size" next to "Usize".
public enum AllocatorOverhead {
    /// glibc malloc: 8-byte header, 16-byte alignment, 32-byte minimum; blocks of
    /// 128 KiB and more are their own mmap (16-byte header, page rounded).
    public static func chunkSize(_ usize: UInt64) -> UInt64 {
        if usize >= 128 * 1024 { return (usize + 16 + 4095) & ~4095 }
        return max(32, (usize + 8 + 15) & ~15)
    }
}
