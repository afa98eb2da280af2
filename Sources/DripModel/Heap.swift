import Foundation

/// One frame of an allocation stack, symbolized.
public struct Frame: Sendable, Codable, Equatable, Hashable {
    public var address: UInt64
    public var function: String?
    public var file: String?
    public var line: Int?
    /// The module (executable or shared object) path.
    public var module: String?
    /// The address inside the module, as tools like addr2line take it.
    public var offset: UInt64

    public init(address: UInt64, function: String?, file: String?, line: Int?, module: String?, offset: UInt64) {
        self.address = address; self.function = function; self.file = file; self.line = line
        self.module = module; self.offset = offset
    }

    /// `function (file.c:12)`, or `module+0xOFF` when nothing better is known.
    public var label: String {
        let place = file.map { f in (f.split(separator: "/").last.map(String.init) ?? f) + (line.map { ":\($0)" } ?? "") }
        if let function { return place.map { "\(function) (\($0))" } ?? function }
        let base = module.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "?"
        return "\(base)+0x\(String(offset, radix: 16))"
    }
}

/// The heap agent's process-wide view: the router's malloc summary.
public struct HeapSummary: Sendable, Codable, Equatable {
    /// "exact" or "sampled".
    public var mode: String
    /// Mean bytes between samples in sampled mode; 0 in exact mode.
    public var sampleBytes: UInt64
    /// Address space of the process's Dynamic memory (the `drip ps` column).
    public var heapSize: UInt64
    /// Live requested bytes (the agent's count; estimated in sampled mode).
    public var allocated: UInt64
    /// Allocator overhead of the live blocks (chunk headers, alignment).
    public var overhead: UInt64
    /// Dynamic memory not in live blocks: free lists, unused arena tops.
    public var free: UInt64
    public var highWatermark: UInt64
    public var liveBlocks: UInt64
    public var mallocs: UInt64
    public var reallocs: UInt64
    public var frees: UInt64
    /// Allocations the agent saw but could not record, and their bytes.
    public var untrackedBlocks: UInt64
    public var untrackedBytes: UInt64
    /// Frees of blocks allocated before the agent loaded (or otherwise unknown to it).
    public var unknownFrees: UInt64
    /// Blocks whose stack could not be stored (stack table full).
    public var stacksDropped: UInt64
    /// Memory the agent itself uses.
    public var agentBytes: UInt64
    /// Dynamic-memory limit the agent enforces (DRIP_LIMIT_BYTES); nil = none.
    public var limit: UInt64?

    public init(mode: String, sampleBytes: UInt64, heapSize: UInt64, allocated: UInt64, overhead: UInt64, free: UInt64,
                highWatermark: UInt64, liveBlocks: UInt64, mallocs: UInt64, reallocs: UInt64, frees: UInt64,
                untrackedBlocks: UInt64, untrackedBytes: UInt64, unknownFrees: UInt64, stacksDropped: UInt64,
                agentBytes: UInt64, limit: UInt64?) {
        self.mode = mode; self.sampleBytes = sampleBytes; self.heapSize = heapSize; self.allocated = allocated
        self.overhead = overhead; self.free = free; self.highWatermark = highWatermark; self.liveBlocks = liveBlocks
        self.mallocs = mallocs; self.reallocs = reallocs; self.frees = frees; self.untrackedBlocks = untrackedBlocks
        self.untrackedBytes = untrackedBytes; self.unknownFrees = unknownFrees; self.stacksDropped = stacksDropped
        self.agentBytes = agentBytes; self.limit = limit
    }
}

/// Live blocks grouped by the code that allocated them: one row of the Block Allocated List.
public struct HeapCaller: Sendable, Codable, Equatable {
    /// What the user reads: `snmp_object_create_list (snmp.c:88) → strdup`.
    public var caller: String
    /// Identity across snapshots: the caller frame's function and line (or module+offset).
    public var key: String
    /// The allocator entry point the caller went through (strdup, operator new, ...).
    public var wrapper: String?
    public var blocks: UInt64
    /// Requested bytes (Usize).
    public var bytes: UInt64
    /// Bytes including allocator overhead (Size).
    public var size: UInt64
    /// The caller's first stack, innermost frame first (agent frames removed).
    public var frames: [Frame]
    /// Every distinct stack that reached this caller, when asked for.
    public var stacks: [[Frame]]

    public init(caller: String, key: String, wrapper: String?, blocks: UInt64, bytes: UInt64, size: UInt64,
                frames: [Frame], stacks: [[Frame]]) {
        self.caller = caller; self.key = key; self.wrapper = wrapper; self.blocks = blocks; self.bytes = bytes
        self.size = size; self.frames = frames; self.stacks = stacks
    }
}

/// One live block (`drip heap --blocks`).
public struct HeapBlock: Sendable, Codable, Equatable {
    public var address: UInt64
    public var usize: UInt64
    public var size: UInt64
    public var caller: String

    public init(address: UInt64, usize: UInt64, size: UInt64, caller: String) {
        self.address = address; self.usize = usize; self.size = size; self.caller = caller
    }
}

/// A heap snapshot: what `drip heap snapshot` stores and `drip heap diff` compares.
public struct HeapSnapshot: Sendable, Codable, Equatable {
    public var jid: Int64
    public var pid: Int32
    public var name: String
    public var takenAt: Date
    public var summary: HeapSummary
    public var callers: [HeapCaller]

    public init(jid: Int64, pid: Int32, name: String, takenAt: Date, summary: HeapSummary, callers: [HeapCaller]) {
        self.jid = jid; self.pid = pid; self.name = name; self.takenAt = takenAt; self.summary = summary
        self.callers = callers
    }
}

/// One caller in a heap diff.
public struct HeapDiffRow: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case both = "", new, vanished }
    public var caller: String
    public var key: String
    public var frames: [Frame]
    public var blocksBefore: UInt64
    public var blocksAfter: UInt64
    public var bytesBefore: UInt64
    public var bytesAfter: UInt64
    public var status: Status
    public var blocksDifference: Int64 { Int64(clamping: blocksAfter) - Int64(clamping: blocksBefore) }
    public var bytesDifference: Int64 { Int64(clamping: bytesAfter) - Int64(clamping: bytesBefore) }
}

public enum HeapDiff {
    /// Callers of either snapshot, most grown (bytes) first; new and vanished callers marked.
    public static func make(before: HeapSnapshot, after: HeapSnapshot) -> [HeapDiffRow] {
        let old = Dictionary(before.callers.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(after.callers.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [HeapDiffRow] = []
        for c in after.callers {
            let b = old[c.key]
            rows.append(HeapDiffRow(caller: c.caller, key: c.key, frames: c.frames, blocksBefore: b?.blocks ?? 0,
                                    blocksAfter: c.blocks, bytesBefore: b?.bytes ?? 0, bytesAfter: c.bytes,
                                    status: b == nil ? .new : .both))
        }
        for c in before.callers where new[c.key] == nil {
            rows.append(HeapDiffRow(caller: c.caller, key: c.key, frames: c.frames, blocksBefore: c.blocks,
                                    blocksAfter: 0, bytesBefore: c.bytes, bytesAfter: 0, status: .vanished))
        }
        return rows.sorted { ($0.bytesDifference, $0.blocksDifference, $1.key) > ($1.bytesDifference, $1.blocksDifference, $0.key) }
    }
}
