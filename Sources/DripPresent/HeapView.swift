import DripModel
import Foundation

/// `drip heap`: the malloc summary and the Block Allocated List; `--blocks`; `heap diff`.
public enum HeapView {
    public static func summaryText(_ s: HeapSummary, title: String, sizes: SizeStyle) -> String {
        var lines = [title]
        let mode = s.mode == "sampled" ? "sampled every \(sizes.format(s.sampleBytes)) on average; blocks and bytes are estimates" : "exact: every block tracked"
        lines.append("  Mode: \(mode)")
        lines.append("  Heapsize \(sizes.format(s.heapSize)), allocd \(sizes.format(s.allocated)), free \(sizes.format(s.free)), "
                     + "overhead \(sizes.format(s.overhead)), high watermark \(sizes.format(s.highWatermark))")
        lines.append("  Blocks: \(s.liveBlocks) live")
        lines.append("  Calls: mallocs \(s.mallocs), reallocs \(s.reallocs), frees \(s.frees)")
        if let limit = s.limit { lines.append("  Limit: \(sizes.format(limit)) of live heap") }
        var gaps: [String] = []
        if s.untrackedBlocks > 0 {
            // Early allocations (before the agent was ready) are counted, their bytes are not known.
            gaps.append("\(s.untrackedBlocks) allocations not tracked"
                        + (s.untrackedBytes > 0 ? " (\(sizes.format(s.untrackedBytes)))" : " (made before the agent was ready or from inside it)"))
        }
        if s.unknownFrees > 0 { gaps.append("\(s.unknownFrees) frees of blocks allocated before the agent") }
        if s.stacksDropped > 0 { gaps.append("\(s.stacksDropped) blocks without a stack (stack table full)") }
        lines.append("  Agent: \(sizes.format(s.agentBytes)) of its own memory" + (gaps.isEmpty ? "" : "; " + gaps.joined(separator: "; ")))
        return lines.joined(separator: "\n") + "\n"
    }

    public static func callersTable(_ callers: [HeapCaller], sizes: SizeStyle, stacks: Bool) -> String {
        var out = "\nBlock Allocated List\n"
        var table = Table([.init("Total Usize"), .init("Total Size"), .init("Block Count"), .init("Caller", .left)])
        for c in callers { table.append([sizes.format(c.bytes), sizes.format(c.size), String(c.blocks), readable(c.caller)]) }
        guard stacks else { return out + table.render() }
        // With stacks, each caller's row is followed by its stacks, indented.
        let rendered = table.render().split(separator: "\n", omittingEmptySubsequences: false)
        out += rendered.prefix(2).joined(separator: "\n") + "\n"
        for (i, c) in callers.enumerated() {
            out += rendered[i + 2] + "\n"
            let all = c.stacks.isEmpty ? [c.frames] : c.stacks
            for (n, stack) in all.enumerated() {
                if all.count > 1 { out += "      stack \(n + 1) of \(all.count):\n" }
                for (k, f) in stack.enumerated() {
                    out += "      #\(k) 0x\(String(f.address, radix: 16)) \(readable(f.label))\n"
                }
            }
        }
        return out
    }

    public static func json(_ summary: HeapSummary, _ callers: [HeapCaller], stacks: Bool) throws -> String {
        struct Out: Encodable { var summary: SummaryJSON; var callers: [CallerJSON] }
        return try JSONOutput.render(Out(summary: SummaryJSON(summary), callers: callers.map { CallerJSON($0, stacks: stacks) }))
    }

    public static func blocksTable(_ blocks: [HeapBlock], total: Int, sizes: SizeStyle) -> String {
        var table = Table([.init("Usize"), .init("Size"), .init("Address"), .init("Caller", .left)])
        for b in blocks { table.append([sizes.format(b.usize), sizes.format(b.size), "0x" + String(b.address, radix: 16), b.caller]) }
        let note = blocks.count < total ? "(\(blocks.count) of \(total) live blocks; --limit shows more)\n" : ""
        return table.render() + note
    }

    /// Written by hand, not with JSONEncoder: a million blocks must print in well under a second.
    public static func blocksJSON(_ blocks: [HeapBlock], total: Int) throws -> String {
        var escaped: [String: String] = [:]
        var out = "{\n  \"blocks\" : [\n"
        out.reserveCapacity(blocks.count * 120 + 64)
        for (i, b) in blocks.enumerated() {
            let caller = escaped[b.caller] ?? {
                let e = JSONOutput.quoted(b.caller)
                escaped[b.caller] = e
                return e
            }()
            out += "    {\n      \"address\" : \"0x" + String(b.address, radix: 16) + "\",\n      \"caller\" : " + caller
                + ",\n      \"size\" : " + String(b.size) + ",\n      \"usize\" : " + String(b.usize) + "\n    }"
            out += i == blocks.count - 1 ? "\n" : ",\n"
        }
        out += "  ],\n  \"total\" : " + String(total) + "\n}\n"
        return out
    }

    /// The diff, most grown first, with each caller's growth rate over the time
    /// between the snapshots (the analyst's "how fast": bytes per hour).
    public static func diffTable(_ rows: [HeapDiffRow], before: HeapSnapshot, after: HeapSnapshot, sizes: SizeStyle) -> String {
        let seconds = after.takenAt.timeIntervalSince(before.takenAt)
        var table = Table([.init("Blocks before"), .init("after"), .init("diff"), .init("Bytes before"), .init("after"),
                           .init("diff"), .init("per hour"), .init("Caller", .left)])
        for r in rows {
            let mark = r.status == .both ? "" : " [\(r.status.rawValue)]"
            table.append([String(r.blocksBefore), String(r.blocksAfter), signed(r.blocksDifference),
                          sizes.format(r.bytesBefore), sizes.format(r.bytesAfter), sizes.format(signed: r.bytesDifference),
                          rate(r.bytesDifference, seconds).map { sizes.format(signed: $0) } ?? "-",
                          readable(r.caller) + mark])
        }
        return "Snapshots \(String(format: "%.0f", seconds)) s apart (pid \(before.pid) → \(after.pid))\n" + table.render()
    }

    /// Bytes per hour, when the snapshots are far enough apart to say.
    static func rate(_ bytes: Int64, _ seconds: Double) -> Int64? {
        guard seconds >= 1 else { return nil }
        return Int64((Double(bytes) * 3600 / seconds).rounded())
    }

    public static func diffJSON(_ rows: [HeapDiffRow], before: HeapSnapshot, after: HeapSnapshot) throws -> String {
        struct Row: Encodable {
            var caller: String, status: String, frames: [FrameJSON]
            var blocksBefore, blocksAfter: UInt64, blocksDifference: Int64
            var bytesBefore, bytesAfter: UInt64, bytesDifference: Int64
            var bytesPerHour: Int64?
            enum CodingKeys: String, CodingKey {
                case caller, status, frames, blocksBefore = "blocks_before", blocksAfter = "blocks_after"
                case blocksDifference = "blocks_difference", bytesBefore = "bytes_before", bytesAfter = "bytes_after"
                case bytesDifference = "bytes_difference", bytesPerHour = "bytes_per_hour"
            }
        }
        struct Out: Encodable {
            var before: Date; var after: Date; var seconds: Double; var callers: [Row]
        }
        let seconds = after.takenAt.timeIntervalSince(before.takenAt)
        return try JSONOutput.render(Out(before: before.takenAt, after: after.takenAt, seconds: seconds, callers: rows.map {
            Row(caller: $0.caller, status: $0.status == .both ? "" : $0.status.rawValue, frames: $0.frames.map(FrameJSON.init),
                blocksBefore: $0.blocksBefore, blocksAfter: $0.blocksAfter, blocksDifference: $0.blocksDifference,
                bytesBefore: $0.bytesBefore, bytesAfter: $0.bytesAfter, bytesDifference: $0.bytesDifference,
                bytesPerHour: rate($0.bytesDifference, seconds))
        }))
    }

    static func signed(_ v: Int64) -> String { v > 0 ? "+\(v)" : String(v) }

    /// C++ names from templated code run to hundreds of characters. In tables a
    /// long label keeps its outermost names and folds what is inside template
    /// arguments and parameter lists to `…`; JSON keeps every name whole.
    static func readable(_ label: String, limit: Int = 100) -> String {
        guard label.count > limit else { return label }
        var out = ""
        var depth = 0
        // The trailing "(file.c:12)" and "→ wrapper" parts stay as they are.
        let keepFrom = label.range(of: " (", options: .backwards).map { label.distance(from: label.startIndex, to: $0.lowerBound) }
        for (i, ch) in label.enumerated() {
            if let keepFrom, i >= keepFrom, depth == 0 { out.append(ch); continue }
            switch ch {
            case "<", "(":
                if depth == 0 { out.append(ch); out.append("…") }
                depth += 1
            case ">", ")":
                depth = max(0, depth - 1)
                if depth == 0 { out.append(ch) }
            default:
                if depth == 0 { out.append(ch) }
            }
        }
        return out
    }

    struct FrameJSON: Encodable {
        var address: String, function: String?, file: String?, line: Int?, module: String?, offset: String
        init(_ f: Frame) {
            address = "0x" + String(f.address, radix: 16); function = f.function; file = f.file; line = f.line
            module = f.module; offset = "0x" + String(f.offset, radix: 16)
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(address, forKey: .address); try c.encode(function, forKey: .function)
            try c.encode(file, forKey: .file); try c.encode(line, forKey: .line)
            try c.encode(module, forKey: .module); try c.encode(offset, forKey: .offset)
        }
        enum CodingKeys: String, CodingKey { case address, function, file, line, module, offset }
    }

    struct CallerJSON: Encodable {
        var caller: String, wrapper: String?, blocks: UInt64, bytes: UInt64, size: UInt64, frames: [FrameJSON]
        var stacks: [[FrameJSON]]?
        init(_ c: HeapCaller, stacks: Bool) {
            caller = c.caller; wrapper = c.wrapper; blocks = c.blocks; bytes = c.bytes; size = c.size
            frames = c.frames.map(FrameJSON.init)
            self.stacks = stacks ? (c.stacks.isEmpty ? [c.frames] : c.stacks).map { $0.map(FrameJSON.init) } : nil
        }
    }

    struct SummaryJSON: Encodable {
        var s: HeapSummary
        init(_ s: HeapSummary) { self.s = s }
        enum K: String, CodingKey {
            case mode, sampleBytes = "sample_bytes", heapsize, allocd, free, overhead, highWatermark = "high_watermark"
            case liveBlocks = "live_blocks", mallocs, reallocs, frees, untrackedBlocks = "untracked_blocks"
            case untrackedBytes = "untracked_bytes", unknownFrees = "unknown_frees", stacksDropped = "stacks_dropped"
            case agentBytes = "agent_bytes", limit
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(s.mode, forKey: .mode); try c.encode(s.sampleBytes, forKey: .sampleBytes)
            try c.encode(s.heapSize, forKey: .heapsize); try c.encode(s.allocated, forKey: .allocd)
            try c.encode(s.free, forKey: .free); try c.encode(s.overhead, forKey: .overhead)
            try c.encode(s.highWatermark, forKey: .highWatermark); try c.encode(s.liveBlocks, forKey: .liveBlocks)
            try c.encode(s.mallocs, forKey: .mallocs); try c.encode(s.reallocs, forKey: .reallocs)
            try c.encode(s.frees, forKey: .frees); try c.encode(s.untrackedBlocks, forKey: .untrackedBlocks)
            try c.encode(s.untrackedBytes, forKey: .untrackedBytes); try c.encode(s.unknownFrees, forKey: .unknownFrees)
            try c.encode(s.stacksDropped, forKey: .stacksDropped); try c.encode(s.agentBytes, forKey: .agentBytes)
            try c.encode(s.limit, forKey: .limit)
        }
    }
}
