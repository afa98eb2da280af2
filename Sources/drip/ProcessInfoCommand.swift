import ArgumentParser
import DripModel
import DripPresent
import DripStore
import Foundation

struct ProcessInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Show one process: JID, pid, executable, instance, state, start time, cgroup, user, memory.",
        discussion: "Respawn fields are '-' for processes drip does not supervise."
    )

    @OptionGroup var target: ProcessArgument
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors { try Self.perform(try target.selector, output: output) }
    }

    static func perform(_ selector: ProcessSelector, output: OutputOptions) throws {
        let machine = try Machine()
        let job = HeapCounterReader.attach(to: [try machine.job(selector, detail: [.resident, .limits])])[0]
        let started = try? machine.reader.startDate(job.process.instance.startTicks)
        let user = userName(job.process.uid)
        let supervision = Self.supervision(of: job, store: machine.store)
        print(output.json ? try ProcessView.json(job, startedAt: started, user: user, supervision: supervision)
                          : ProcessView.text(job, startedAt: started, user: user, sizes: output.sizes, supervision: supervision),
              terminator: "")
    }

    /// The respawn fields `drip supervise` recorded for this JID, when this very process is the one it runs.
    static func supervision(of job: Job, store: StateStore) -> ServiceStatus? {
        guard let r = try? store.supervisedService(jid: job.jid), r.status.pid == job.process.pid,
              r.startTicks == nil || r.startTicks == job.process.instance.startTicks else { return nil }
        return r.status
    }

    static func userName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }
}
