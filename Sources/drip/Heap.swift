import ArgumentParser
import DripHeap
import DripModel
import DripPresent
import DripStore
import Foundation

struct Heap: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look inside a process's heap: live blocks grouped by the code that allocated them.",
        discussion: """
            The process must run drip's heap agent ('drip run', or LD_PRELOAD=libdrip-agent.so).
            drip reads the agent's tables from the running process (process_vm_readv): nothing is
            stopped, and the process needs no thread, socket or file descriptor for it.
            """,
        subcommands: [HeapShow.self, HeapSnapshotCommand.self, HeapDiffCommand.self],
        defaultSubcommand: HeapShow.self
    )
}

/// The live heap of one job, symbolized.
struct HeapSession {
    let machine: Machine
    let job: Job
    let report: HeapInspector.Report

    init(_ selector: ProcessSelector, allStacks: Bool = false, blocks: Bool = false) throws {
        machine = try Machine()
        job = try machine.job(selector)
        let pid = job.process.pid
        let regions = try machine.reader.regions(pid)
        guard let address = try AgentReader().stateAddress(pid: pid, regions: regions) else {
            throw HeapError.noAgent(pid: pid)
        }
        let tables = try AgentReader().tables(pid: pid, stateAddress: address, withBlocks: blocks)
        report = HeapInspector().report(tables, regions: regions, dynamicBytes: job.process.memory.dynamic,
                                        allStacks: allStacks)
    }

    var title: String {
        "Malloc summary for JID \(job.jid), pid \(job.process.pid) (\(job.process.name)):"
    }

    var snapshot: HeapSnapshot {
        HeapSnapshot(jid: job.jid.value, pid: job.process.pid, name: job.process.name, takenAt: Date(),
                     summary: report.summary, callers: report.callers)
    }
}

struct HeapShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "The malloc summary and the Block Allocated List (one row per caller, largest first).",
        discussion: """
            Columns: Total Usize (requested bytes), Total Size (with glibc's chunk overhead), Block Count
            (live blocks), Caller (the first frame outside the allocator: 'parse_config (conf.c:41) → strdup'
            means parse_config called strdup at conf.c:41). --blocks lists every live block instead.
            """
    )

    @OptionGroup var target: ProcessArgument
    @OptionGroup var output: OutputOptions

    @Flag(name: .long, help: "Print every distinct stack of each caller.")
    var stacks = false

    @Flag(name: .long, help: "List every live block: Usize, Size, Address, Caller.")
    var blocks = false

    @Option(name: .long, help: "With --blocks: at most this many blocks, largest first (default 1000; 0 = all).")
    var limit: Int = 1000

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run() throws {
        try reportingErrors { try Self.perform(try target.selector, stacks: stacks, blocks: blocks, limit: limit, output: output) }
    }

    static func perform(_ selector: ProcessSelector, stacks: Bool, blocks: Bool, limit: Int, output: OutputOptions) throws {
        let session = try HeapSession(selector, allStacks: stacks, blocks: blocks)
        let report = session.report
        if blocks {
            let all = (report.blocks ?? []).sorted { ($0.usize, $1.address) > ($1.usize, $0.address) }
            let shown = limit == 0 ? all : Array(all.prefix(limit))
            print(output.json ? try HeapView.blocksJSON(shown, total: all.count)
                              : HeapView.blocksTable(shown, total: all.count, sizes: output.sizes), terminator: "")
            return
        }
        if output.json {
            print(try HeapView.json(report.summary, report.callers, stacks: stacks), terminator: "")
        } else {
            print(HeapView.summaryText(report.summary, title: session.title, sizes: output.sizes)
                  + HeapView.callersTable(report.callers, sizes: output.sizes, stacks: stacks), terminator: "")
        }
        if report.unsettledShards > 0 {
            var err = StandardError()
            print("drip: \(report.unsettledShards) block-table shards kept changing while read; their counts may be off by the blocks allocated meanwhile", to: &err)
        }
    }
}

struct HeapSnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Store the live heap's callers (in the state db, and in FILE with -o) for a later 'drip heap diff'."
    )

    @OptionGroup var target: ProcessArgument
    @OptionGroup var output: OutputOptions

    @Option(name: [.customShort("o"), .customLong("output")], help: "Also write the snapshot to this JSON file.")
    var file: String?

    func run() throws {
        try reportingErrors {
            let session = try HeapSession(try target.selector)
            let snapshot = session.snapshot
            let id = try session.machine.store.saveHeapSnapshot(snapshot)
            if let file {
                let data = try HeapSnapshotCodec.encode(snapshot)
                do { try data.write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
                    throw DripError.usage("cannot write \(file): \((error as NSError).localizedDescription)")
                }
            }
            let blocks = snapshot.callers.reduce(0) { $0 + $1.blocks }
            if output.json {
                struct Out: Encodable { var id: Int64; var jid: Int64; var pid: Int32; var callers: Int; var blocks: UInt64; var file: String? }
                print(try JSONOutput.render(Out(id: id, jid: snapshot.jid, pid: snapshot.pid, callers: snapshot.callers.count,
                                                blocks: blocks, file: file)), terminator: "")
            } else {
                print("Stored heap snapshot \(id) of JID \(snapshot.jid) (pid \(snapshot.pid), \(snapshot.name)): "
                      + "\(snapshot.callers.count) callers, \(blocks) blocks" + (file.map { ", also in \($0)" } ?? ""))
            }
        }
    }
}

struct HeapDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare heap snapshots per caller, most grown first.",
        discussion: """
            drip heap diff A B   compare two snapshots (ids printed by 'drip heap snapshot', or JSON files)
            drip heap diff X     compare process X's live heap with its last stored snapshot
            New callers are marked [new], callers that no longer hold blocks [vanished].
            """
    )

    @Argument(help: "Two snapshots (ids or files), or one process (JID, pid:N, name).")
    var operands: [String]

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if operands.isEmpty || operands.count > 2 { throw ValidationError("give two snapshots, or one process") }
    }

    func run() throws {
        try reportingErrors {
            let before: HeapSnapshot, after: HeapSnapshot
            if operands.count == 1 {
                let session = try HeapSession(try ProcessSelector(parsing: operands[0]))
                guard let last = try session.machine.store.lastHeapSnapshot(jid: session.job.jid) else {
                    throw DripError.missing("no heap snapshot of JID \(session.job.jid): take one with 'drip heap snapshot \(session.job.jid)'")
                }
                (before, after) = (last.snapshot, session.snapshot)
            } else {
                let store = try Machine().store
                before = try Self.load(operands[0], store: store)
                after = try Self.load(operands[1], store: store)
            }
            let rows = HeapDiff.make(before: before, after: after)
            print(output.json ? try HeapView.diffJSON(rows, before: before, after: after)
                              : HeapView.diffTable(rows, before: before, after: after, sizes: output.sizes), terminator: "")
        }
    }

    static func load(_ operand: String, store: StateStore) throws -> HeapSnapshot {
        if let id = Int64(operand), !FileManager.default.fileExists(atPath: operand) {
            guard let snapshot = try store.heapSnapshot(id: id) else { throw DripError.notFound("no heap snapshot \(id)") }
            return snapshot
        }
        guard let data = FileManager.default.contents(atPath: operand) else {
            throw DripError.notFound("no heap snapshot \(operand): not a snapshot id, and no such file")
        }
        do { return try HeapSnapshotCodec.decode(data) } catch {
            throw DripError.usage("\(operand) is not a drip heap snapshot (\(error))")
        }
    }
}
