import ArgumentParser
import DripModel
import DripPresent
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
        print(output.json ? try ProcessView.json(job, startedAt: started, user: user)
                          : ProcessView.text(job, startedAt: started, user: user, sizes: output.sizes), terminator: "")
    }

    static func userName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }
}
