import ArgumentParser
import DripModel
import DripPresent
import DripStore
import DripSupervisor
import Foundation

struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run services like the router's sysmgr and dumper: JIDs, limits, respawn, cores.",
        discussion: """
            drip supervise --config /etc/drip/supervise.toml      run (until SIGTERM/SIGINT stops every service)
            drip supervise status [--json]                        ask the running supervisor
            drip supervise restart|stop|start NAME
            Each service gets a JID that survives respawns, the heap agent with memory_limit as DRIP_LIMIT_BYTES
            (RLIMIT_DATA with agent = false), a core in dump_dir when it dies of a fatal signal (first./last.
            kept, the rest rotated), and %OS-DUMPER lines in dump_dir/dumper.log. docs/SUPERVISOR.md has every key.
            """,
        subcommands: [Status.self, Start.self, Stop.self, Restart.self]
    )

    @Option(name: .long, help: "The TOML config: dump_dir and [service.NAME] tables.")
    var config: String?

    @Flag(name: .long, help: "Only check the config and exit.")
    var check = false

    func run() throws {
        guard let config else {
            throw ValidationError("give the config with --config FILE, or a subcommand (status, start, stop, restart)")
        }
        // Before anything starts a thread: every thread must block the signals the loop reads.
        Supervisor.blockSignals()
        try reportingErrors {
            let stateDirectory = StateStore.defaultDirectory()
            let parsed = try SupervisorConfig.load(path: config, defaultDumpDirectory: StateStore.defaultDumpDirectory())
            let agent: String? = parsed.services.contains(where: \.agent) ? try AgentLibrary.path() : nil
            if check {
                print("\(config): ok, \(parsed.services.count) service(s): \(parsed.services.map(\.name).joined(separator: ", "))")
                return
            }
            let store = try StateStore(directory: stateDirectory)
            let supervisor = Supervisor(config: parsed, stateDirectory: stateDirectory, agentPath: agent,
                                        registrar: CensusRegistrar(), store: store)
            let status = try supervisor.run()
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// Registers a spawned pid under its service name in the registry `drip ps` reads.
    struct CensusRegistrar: JidRegistrar {
        func register(pid: Int32, description: ProcessDescription) throws -> Jid? {
            let census = try Machine().census(describing: [pid: description])
            return census.jobs.first { $0.process.pid == pid }?.jid
        }
    }

    static func send(_ request: ControlRequest) throws -> ControlResponse {
        let path = ControlSocket.path(stateDirectory: StateStore.defaultDirectory())
        let response = try ControlSocket.send(request, path: path)
        guard response.ok else { throw DripError.usage(response.message ?? "the supervisor refused") }
        return response
    }
}

extension Supervise {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the supervised services: NAME JID PID STATE RESPAWNS LAST-STARTED LAST-EXIT LIMIT.")

        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors {
                let response = try Supervise.send(ControlRequest(command: "status"))
                let services = response.services ?? []
                if output.json {
                    print(try JSONOutput.render(StatusJSON(supervisorPid: response.supervisorPid, services: services)),
                          terminator: "")
                } else {
                    print(Self.table(services, sizes: output.sizes), terminator: "")
                }
            }
        }

        struct StatusJSON: Encodable {
            var supervisorPid: Int32?
            var services: [ServiceStatus]
            enum CodingKeys: String, CodingKey { case supervisorPid = "supervisor_pid", services }
        }

        static func table(_ services: [ServiceStatus], sizes: SizeStyle) -> String {
            var table = Table([.init("NAME", .left), .init("JID"), .init("PID"), .init("STATE", .left), .init("RESPAWNS"),
                               .init("LAST-STARTED", .left), .init("LAST-EXIT", .left), .init("LIMIT", .left)])
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.dateFormat = "MMM d HH:mm:ss"
            for s in services {
                let limit = s.memoryLimit.map { sizes.format($0) + (s.limitKind.map { " (\($0))" } ?? "") } ?? "-"
                table.append([s.name, s.jid.map(String.init) ?? "-", s.pid.map(String.init) ?? "-", s.state,
                              String(s.respawnCount), s.lastStarted.map { f.string(from: $0) } ?? "-", s.lastExit ?? "-", limit])
            }
            return table.render()
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a stopped or held-down service.")
        @Argument(help: "The service name ([service.NAME] in the config).") var name: String
        func run() throws { try reportingErrors { print(try Supervise.send(ControlRequest(command: "start", service: name)).message ?? "ok") } }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a service (SIGTERM, SIGKILL after its grace period); it stays down.")
        @Argument(help: "The service name ([service.NAME] in the config).") var name: String
        func run() throws { try reportingErrors { print(try Supervise.send(ControlRequest(command: "stop", service: name)).message ?? "ok") } }
    }

    struct Restart: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a service and start it again (same JID).")
        @Argument(help: "The service name ([service.NAME] in the config).") var name: String
        func run() throws { try reportingErrors { print(try Supervise.send(ControlRequest(command: "restart", service: name)).message ?? "ok") } }
    }
}
