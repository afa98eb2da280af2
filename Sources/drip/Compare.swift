import ArgumentParser
import DripModel
import DripPresent
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Snapshot every process's Dynamic memory now and later, then report who grew.",
        discussion: """
            drip compare start    store the start snapshot
            drip compare end      store the end snapshot
            drip compare report   one row per JID: mem before, mem after, difference, mallocs, restart/exit/new
            Snapshots live in the state db ($DRIP_STATE_DIR); each is written in one transaction.
            'mallocs' is the change in allocation calls where the process runs drip's heap agent, '-' elsewhere.
            A JID whose process changed between the snapshots is flagged restart; one only in start, exit;
            one only in end, new.
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable { case start, end, report }

    @Argument(help: "start, end or report.")
    var action: Action

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors { try Self.perform(action, output: output) }
    }

    static func perform(_ action: Action, output: OutputOptions) throws {
        let machine = try Machine()
        switch action {
        case .start, .end:
            let census = try machine.census()
            // drip itself would show up as exited and new in every report.
            let me = getpid()
            let jobs = HeapCounterReader.attach(to: census.jobs.filter { $0.process.pid != me })
            let snapshot = CompareSnapshot(
                name: action.rawValue, takenAt: Date(), bootID: try machine.reader.bootID(),
                host: ProcessInfo.processInfo.hostName,
                rows: jobs.map { CompareRow(jid: $0.jid, instance: $0.process.instance, name: $0.process.name,
                                            dynamic: $0.process.memory.dynamic, mallocs: $0.process.heap?.mallocs) })
            try machine.store.saveCompareSnapshot(snapshot)
            if output.json {
                struct Out: Encodable { var snapshot: String; var processes: Int; var db: String }
                print(try JSONOutput.render(Out(snapshot: action.rawValue, processes: snapshot.rows.count,
                                                db: machine.store.path)), terminator: "")
            } else {
                print("Stored memory snapshot '\(action.rawValue)' of \(snapshot.rows.count) processes in \(machine.store.path)")
            }
        case .report:
            guard let start = try machine.store.compareSnapshot(named: "start") else {
                throw DripError.missing("no start snapshot: run 'drip compare start' first")
            }
            guard let end = try machine.store.compareSnapshot(named: "end") else {
                throw DripError.missing("no end snapshot: run 'drip compare end' after 'drip compare start'")
            }
            let rows = CompareReport.make(start: start, end: end)
            print(output.json ? try CompareView.json(rows, start: start, end: end)
                              : CompareView.table(rows, sizes: output.sizes), terminator: "")
        }
    }
}
