import ArgumentParser
import DripModel
import DripProc
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a program with drip's heap agent and give it a JID.",
        discussion: """
            drip run -- /usr/sbin/snmpd -f
            drip run --name snmpd --sample-bytes 524288 -- /usr/sbin/snmpd -f
            The program replaces drip (same pid), with LD_PRELOAD=libdrip-agent.so added to its environment.
            Without drip: LD_PRELOAD=/path/to/libdrip-agent.so program, or in a systemd unit's drop-in
            (systemctl edit NAME): [Service] Environment=LD_PRELOAD=/path/to/libdrip-agent.so
            """
    )

    @Option(name: .long, help: "Name the job: the JID then follows this name, whatever the command line.")
    var name: String?

    @Option(name: .long, help: "Sample about one block per this many bytes instead of tracking every block (DRIP_SAMPLE_BYTES).")
    var sampleBytes: UInt64?

    @Option(name: .long, help: "Dynamic-memory limit (e.g. 16M): crossing it raises SIGSYS (DRIP_LIMIT_BYTES).")
    var limit: String?

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments (after --).")
    var command: [String] = []

    func validate() throws {
        var cmd = command
        if cmd.first == "--" { cmd.removeFirst() }
        if cmd.isEmpty { throw ValidationError("give the program to run after --") }
        if let limit, ByteSize.parse(limit) == nil { throw ValidationError("--limit '\(limit)' is not a size like 16M") }
        if let name, name.isEmpty { throw ValidationError("--name must not be empty") }
        if sampleBytes == 0 { throw ValidationError("--sample-bytes must be at least 1") }
    }

    func run() throws {
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        try reportingErrors {
            let agent = try AgentLibrary.path()
            guard let program = Self.resolve(argv[0]) else {
                throw DripError.notFound("\(argv[0]): command not found")
            }
            // Register this pid as the program before exec: exec keeps the pid and start time.
            let machine = try Machine()
            let me = getpid()
            let cgroup = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)).flatMap { CgroupParser.path(Array($0.utf8)) }
            let description = ProcessDescription(name: name ?? (program as NSString).lastPathComponent, executable: program,
                                                 commandLine: argv, cgroup: cgroup, uid: getuid(), jobName: name)
            let census = try machine.census(describing: [me: description])
            let jid = census.jobs.first { $0.process.pid == me }?.jid
            var err = StandardError()
            print("drip: JID \(jid?.description ?? "?") pid \(me): \(argv.joined(separator: " "))", to: &err)

            let existing = ProcessInfo.processInfo.environment["LD_PRELOAD"].map { " " + $0 } ?? ""
            setenv("LD_PRELOAD", agent + existing, 1)
            if let sampleBytes { setenv("DRIP_SAMPLE_BYTES", String(sampleBytes), 1) }
            if let limit, let bytes = ByteSize.parse(limit) { setenv("DRIP_LIMIT_BYTES", String(bytes), 1) }
            var cArgs = argv.map { strdup($0) }
            cArgs.append(nil)
            execv(program, &cArgs)
            throw DripError.notFound("cannot run \(program): \(String(cString: strerror(errno)))")
        }
    }

    /// The program's path: as given when it has a slash, else the first match on PATH.
    static func resolve(_ command: String) -> String? {
        if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
