import DripModel
import Foundation

/// `drip process X`: one process, field by field.
public enum ProcessView {
    public static func text(_ job: Job, startedAt: Date?, user: String?, sizes: SizeStyle,
                            supervision: ServiceStatus? = nil) -> String {
        let p = job.process
        let m = p.memory
        var fields: [(String, String)] = [
            ("Job Id", job.jid.description),
            ("PID", String(p.pid)),
            ("Process name", p.name),
            ("Executable path", p.executable ?? "-"),
            ("Command line", p.commandLine.isEmpty ? "-" : p.commandLine.map(quoted).joined(separator: " ")),
            ("Instance #", String(job.instanceNumber)),
            ("Respawn", supervision.map { $0.respawn ? "ON" : "OFF" } ?? "-"),
            ("Respawn count", supervision.map { String($0.respawnCount) } ?? "-"),
            ("Max. spawns per minute", supervision.map { String($0.maxSpawnsPerMinute) } ?? "-"),
            ("Last started", (supervision?.lastStarted ?? startedAt).map(format) ?? "-"),
            ("Process state", stateName(p.state)),
            ("Started at", startedAt.map(format) ?? "-"),
            ("Threads", String(p.threads)),
            ("Parent PID", String(p.parentPid)),
            ("User", user.map { "\($0) (\(p.uid))" } ?? String(p.uid)),
            ("Cgroup", p.cgroup ?? "-"),
            ("Unit", p.unit ?? "-"),
            ("Dynamic limit", p.dataLimit.map { sizes.format($0) } ?? "unlimited"),
        ]
        if let limit = supervision?.memoryLimit {
            fields.append(("Memory limit", sizes.format(limit) + (supervision?.limitKind == "agent" ? " (heap agent: SIGSYS)"
                                                                  : " (RLIMIT_DATA)")))
        }
        fields += [
            ("Text", sizes.format(m.text)),
            ("Data", sizes.format(m.data)),
            ("Stack", sizes.format(m.stack)),
            ("Dynamic", sizes.format(m.dynamic)),
            ("Shared", sizes.format(m.shared)),
            ("Resident", sizes.format(m.resident)),
            ("Virtual", sizes.format(m.virtualSize)),
        ]
        if let h = p.heap {
            fields += [("Heap live bytes", sizes.format(h.liveBytes)), ("Heap live blocks", String(h.liveBlocks)),
                       ("Heap calls", "mallocs \(h.mallocs), reallocs \(h.reallocs), frees \(h.frees)")]
        }
        let width = fields.map(\.0.count).max() ?? 0
        return fields.map { "  " + $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + " : " + $0.1 }
            .joined(separator: "\n") + "\n"
    }

    public static func json(_ job: Job, startedAt: Date?, user: String?, supervision: ServiceStatus? = nil) throws -> String {
        struct Out: Encodable {
            var jid: Int64, pid: Int32, name: String, executable: String?, commandLine: [String], instance: Int
            var state: String, startedAt: Date?, threads: Int, parentPid: Int32, uid: UInt32, user: String?
            var cgroup: String?, unit: String?, dynLimit: UInt64?, memory: MemoryTotals, heap: HeapCounters?
            var respawn: Bool?, respawnCount: Int?, maxSpawnsPerMinute: Int?, lastStarted: Date?
            var service: String?, memoryLimit: UInt64?, limitKind: String?
            enum CodingKeys: String, CodingKey {
                case jid, pid, name, executable, instance, state, threads, uid, user, cgroup, unit, memory, heap, respawn
                case service, memoryLimit = "memory_limit", limitKind = "limit_kind"
                case commandLine = "command_line", startedAt = "started_at", parentPid = "parent_pid"
                case dynLimit = "dyn_limit", respawnCount = "respawn_count", maxSpawnsPerMinute = "max_spawns_per_minute"
                case lastStarted = "last_started"
            }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(jid, forKey: .jid); try c.encode(pid, forKey: .pid); try c.encode(name, forKey: .name)
                try c.encode(executable, forKey: .executable); try c.encode(commandLine, forKey: .commandLine)
                try c.encode(instance, forKey: .instance); try c.encode(state, forKey: .state)
                try c.encode(startedAt, forKey: .startedAt); try c.encode(threads, forKey: .threads)
                try c.encode(parentPid, forKey: .parentPid); try c.encode(uid, forKey: .uid); try c.encode(user, forKey: .user)
                try c.encode(cgroup, forKey: .cgroup); try c.encode(unit, forKey: .unit); try c.encode(dynLimit, forKey: .dynLimit)
                try c.encode(memory, forKey: .memory); try c.encode(heap, forKey: .heap)
                try c.encode(respawn, forKey: .respawn); try c.encode(respawnCount, forKey: .respawnCount)
                try c.encode(maxSpawnsPerMinute, forKey: .maxSpawnsPerMinute); try c.encode(lastStarted, forKey: .lastStarted)
                try c.encode(service, forKey: .service); try c.encode(memoryLimit, forKey: .memoryLimit)
                try c.encode(limitKind, forKey: .limitKind)
            }
        }
        let p = job.process
        return try JSONOutput.render(Out(jid: job.jid.value, pid: p.pid, name: p.name, executable: p.executable,
                                         commandLine: p.commandLine, instance: job.instanceNumber, state: p.state,
                                         startedAt: startedAt, threads: p.threads, parentPid: p.parentPid, uid: p.uid,
                                         user: user, cgroup: p.cgroup, unit: p.unit, dynLimit: p.dataLimit,
                                         memory: p.memory, heap: p.heap, respawn: supervision?.respawn,
                                         respawnCount: supervision?.respawnCount,
                                         maxSpawnsPerMinute: supervision?.maxSpawnsPerMinute,
                                         lastStarted: supervision?.lastStarted, service: supervision?.name,
                                         memoryLimit: supervision?.memoryLimit, limitKind: supervision?.limitKind))
    }

    static func stateName(_ code: String) -> String {
        let names = ["R": "Run", "S": "Sleeping", "D": "Disk sleep", "Z": "Zombie", "T": "Stopped",
                     "t": "Tracing stop", "X": "Dead", "I": "Idle"]
        return names[code].map { "\($0) (\(code))" } ?? code
    }

    static func quoted(_ arg: String) -> String {
        arg.isEmpty || arg.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" }) ? "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'" : arg
    }

    static func format(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "EEE MMM d HH:mm:ss.SSS yyyy"
        return f.string(from: date)
    }
}
