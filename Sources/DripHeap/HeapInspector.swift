import DripModel
import DripSymbols
import Foundation

/// Turns the agent's raw tables into what the analyst reads: callers with
/// symbolized stacks, the malloc summary, and optionally every block.
public struct HeapInspector {
    let symbolizer: Symbolizer

    public init(symbolizer: Symbolizer = Symbolizer()) {
        self.symbolizer = symbolizer
    }

    public struct Report: Sendable {
        public var summary: HeapSummary
        /// Largest (bytes) first.
        public var callers: [HeapCaller]
        public var blocks: [HeapBlock]?
        public var unsettledShards: Int
    }

    /// - Parameters:
    ///   - regions: the process's maps, to place addresses in modules.
    ///   - dynamicBytes: the process's Dynamic column (heap size in the summary).
    ///   - allStacks: keep every distinct stack per caller (`--stacks`).
    public func report(_ tables: AgentTables, regions: [Region], dynamicBytes: UInt64, allStacks: Bool = false) -> Report {
        let map = ModuleMap(regions: regions, pid: tables.pid)
        let live = tables.perStack.indices.filter { tables.perStack[$0].blocks > 0 }
        let symbolized = symbolize(live.map { tables.stacks[$0] }, map: map)

        struct Group { var caller: String; var wrapper: String?; var totals = AgentTables.StackTotals(); var stacks: [[Frame]] }
        var groups: [String: Group] = [:]
        var order: [String] = []
        var callerOfStack = [Int: String]()
        for (k, stackID) in live.enumerated() {
            let machine = symbolized[k]
            let (key, label, wrapper, frames) = Self.caller(of: machine)
            callerOfStack[stackID] = key
            if groups[key] == nil {
                groups[key] = Group(caller: label, wrapper: wrapper, stacks: [])
                order.append(key)
            }
            let t = tables.perStack[stackID]
            groups[key]!.totals.blocks += t.blocks
            groups[key]!.totals.bytes += t.bytes
            groups[key]!.totals.size += t.size
            if allStacks || groups[key]!.stacks.isEmpty { groups[key]!.stacks.append(frames) }
        }
        let callers = order.map { key -> HeapCaller in
            let g = groups[key]!
            return HeapCaller(caller: g.caller, key: key, wrapper: g.wrapper, blocks: UInt64(g.totals.blocks.rounded()),
                              bytes: UInt64(g.totals.bytes.rounded()), size: UInt64(g.totals.size.rounded()),
                              frames: g.stacks.first ?? [], stacks: allStacks ? g.stacks : [])
        }.sorted { ($0.bytes, $0.blocks, $1.key) > ($1.bytes, $1.blocks, $0.key) }

        let allocated = callers.reduce(0) { $0 + $1.bytes }
        let footprint = callers.reduce(0) { $0 + $1.size }
        let c = tables.counters
        // The agent's own mmap'd tables are Dynamic memory too, but not the program's heap.
        let heapSize = dynamicBytes - min(dynamicBytes, tables.agentMappedBytes)
        let summary = HeapSummary(
            mode: tables.sampled ? "sampled" : "exact", sampleBytes: tables.sampleBytes, heapSize: heapSize,
            allocated: tables.sampled ? allocated : c.liveBytes, overhead: footprint - min(footprint, allocated),
            free: heapSize - min(heapSize, footprint), highWatermark: c.highWatermark,
            liveBlocks: tables.sampled ? callers.reduce(0) { $0 + $1.blocks } : c.liveBlocks,
            mallocs: c.mallocs, reallocs: c.reallocs, frees: c.frees, untrackedBlocks: tables.untrackedBlocks,
            untrackedBytes: tables.untrackedBytes, unknownFrees: tables.unknownFrees, stacksDropped: tables.stacksDropped,
            agentBytes: tables.agentBytes, limit: tables.limit)

        let blocks = tables.blocks.map { list in
            list.map { b in
                HeapBlock(address: b.address, usize: b.size, size: AllocatorOverhead.chunkSize(b.size),
                          caller: callerOfStack[Int(b.stack)].flatMap { groups[$0]?.caller } ?? "<unknown>")
            }
        }
        return Report(summary: summary, callers: callers, blocks: blocks, unsettledShards: tables.unsettledShards)
    }

    /// Symbolizes stacks of return addresses. A return address points after the
    /// call, possibly at the next line or function, so each is looked up at address - 1.
    func symbolize(_ stacks: [[UInt64]], map: ModuleMap) -> [[SymbolizedFrame]] {
        var unique: [UInt64] = []
        var seen = Set<UInt64>()
        for stack in stacks { for a in stack where seen.insert(a).inserted { unique.append(a) } }
        let frames = symbolizer.symbolize(unique.map { $0 &- 1 }, in: map)
        var byAddress: [UInt64: SymbolizedFrame] = [:]
        for (a, f) in zip(unique, frames) {
            var f = f
            f.address = a
            byAddress[a] = f
        }
        return stacks.map { $0.compactMap { byAddress[$0] } }
    }

    /// The caller of one stack: key, label, wrapper passed, and the stack as
    /// Frames (agent frames dropped, inlined functions expanded).
    static func caller(of stack: [SymbolizedFrame]) -> (key: String, label: String, wrapper: String?, frames: [Frame]) {
        let visible = stack.filter { !AllocatorPlumbing.isAgentModule($0.module) }
        let frames = visible.flatMap(Self.frames)
        guard let selection = AllocatorPlumbing.selectCaller(in: visible) else {
            // Every frame is plumbing (or the stack is empty): charge the innermost one.
            let label = frames.first?.label ?? "<no stack>"
            return ("?" + label, label, nil, frames)
        }
        let machine = visible[selection.index]
        let frame = Self.frames(machine).first!
        let key: String
        if let function = frame.function {
            key = function + "@" + (frame.file ?? frame.module ?? "?") + ":" + String(frame.line ?? 0)
        } else {
            key = (frame.module ?? "?") + "+0x" + String(frame.offset, radix: 16)
        }
        let label = frame.label + (selection.wrapper.map { " → " + $0 } ?? "")
        return (key, label, selection.wrapper, frames)
    }

    /// One Frame per source location: inlined calls first, the real function last.
    static func frames(_ f: SymbolizedFrame) -> [Frame] {
        if f.locations.isEmpty {
            return [Frame(address: f.address, function: nil, file: nil, line: nil, module: f.module, offset: f.offset)]
        }
        // A file without a line comes from a compile unit that does not really
        // cover the address (libraries built without debug info still carry
        // crtstuff.c's): it would name the wrong file, so it is dropped.
        return f.locations.map { loc in
            Frame(address: f.address, function: loc.function, file: loc.line > 0 ? loc.file : nil,
                  line: loc.line > 0 ? loc.line : nil, module: f.module, offset: f.offset)
        }
    }
}
