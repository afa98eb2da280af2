/// What a process is, as opposed to what it uses: fixed from exec on (for all
/// practical purposes), so the JID registry keeps it and `drip ps` need not
/// read cmdline, exe and cgroup again for processes it has seen.
public struct ProcessDescription: Sendable, Codable, Equatable {
    /// The short name (comm, or the executable's base name when comm was truncated).
    public var name: String
    public var executable: String?
    public var commandLine: [String]
    /// The cgroup v2 path, e.g. `/system.slice/ssh.service`.
    public var cgroup: String?
    public var uid: UInt32
    /// The name given with `drip run --name`: it alone then names the service.
    public var jobName: String?

    public init(name: String, executable: String?, commandLine: [String], cgroup: String?, uid: UInt32, jobName: String? = nil) {
        self.name = name; self.executable = executable; self.commandLine = commandLine; self.cgroup = cgroup; self.uid = uid
        self.jobName = jobName
    }

    /// The systemd unit the cgroup names, if any (`ssh.service`).
    public var unit: String? {
        guard let cgroup else { return nil }
        for component in cgroup.split(separator: "/").reversed() {
            if component.hasSuffix(".service") || component.hasSuffix(".scope") { return String(component) }
        }
        return nil
    }

    /// The service identity the JID registry keys on (docs/JID.md): a `.service`
    /// unit names the service by itself; otherwise the executable and its arguments do.
    public var serviceKey: ServiceKey {
        if let jobName { return ServiceKey("name:" + jobName) }
        if let unit, unit.hasSuffix(".service") { return ServiceKey("unit:" + unit) }
        let program = executable ?? commandLine.first ?? name
        let args = commandLine.dropFirst().joined(separator: " ")
        return ServiceKey("exe:" + program + (args.isEmpty ? "" : " " + args))
    }
}

/// Everything drip knows about one live process at one moment.
public struct ProcessRecord: Sendable, Codable {
    public var instance: ProcessInstance
    public var parentPid: Int32
    /// The short name (comm, or the executable's base name when comm was truncated).
    public var name: String
    public var executable: String?
    public var commandLine: [String]
    /// One-letter kernel state (R, S, D, Z, T, ...).
    public var state: String
    public var threads: Int
    public var uid: UInt32
    /// The cgroup v2 path, e.g. `/system.slice/ssh.service`.
    public var cgroup: String?
    /// RLIMIT_DATA soft limit; nil means unlimited.
    public var dataLimit: UInt64?
    public var memory: MemoryTotals
    /// True when libdrip-agent.so is mapped into the process.
    public var runsHeapAgent: Bool = false
    /// Set when the process runs drip's heap agent and its counters could be read.
    public var heap: HeapCounters?

    public init(instance: ProcessInstance, parentPid: Int32, name: String, executable: String?,
                commandLine: [String], state: String, threads: Int, uid: UInt32, cgroup: String?,
                dataLimit: UInt64?, memory: MemoryTotals, runsHeapAgent: Bool = false, heap: HeapCounters? = nil) {
        self.instance = instance; self.parentPid = parentPid; self.name = name; self.executable = executable
        self.commandLine = commandLine; self.state = state; self.threads = threads; self.uid = uid
        self.cgroup = cgroup; self.dataLimit = dataLimit; self.memory = memory
        self.runsHeapAgent = runsHeapAgent; self.heap = heap
    }

    public var pid: Int32 { instance.pid }

    public init(instance: ProcessInstance, stat: (parentPid: Int32, state: String, threads: Int),
                description d: ProcessDescription, dataLimit: UInt64?, memory: MemoryTotals, runsHeapAgent: Bool) {
        self.init(instance: instance, parentPid: stat.parentPid, name: d.name, executable: d.executable,
                  commandLine: d.commandLine, state: stat.state, threads: stat.threads, uid: d.uid, cgroup: d.cgroup,
                  dataLimit: dataLimit, memory: memory, runsHeapAgent: runsHeapAgent)
    }

    public var description: ProcessDescription {
        ProcessDescription(name: name, executable: executable, commandLine: commandLine, cgroup: cgroup, uid: uid)
    }

    public var unit: String? { description.unit }
    public var serviceKey: ServiceKey { description.serviceKey }
}

/// The heap agent's process-wide counters, as drip read them.
public struct HeapCounters: Sendable, Codable, Equatable {
    public var mallocs: UInt64
    public var reallocs: UInt64
    public var frees: UInt64
    public var liveBlocks: UInt64
    public var liveBytes: UInt64
    public var highWatermark: UInt64

    public init(mallocs: UInt64, reallocs: UInt64, frees: UInt64, liveBlocks: UInt64, liveBytes: UInt64,
                highWatermark: UInt64) {
        self.mallocs = mallocs; self.reallocs = reallocs; self.frees = frees
        self.liveBlocks = liveBlocks; self.liveBytes = liveBytes; self.highWatermark = highWatermark
    }
}

/// Facts about the heap agent that more than one module needs.
public enum HeapAgent {
    /// The file name drip builds and preloads; finding it in /proc/PID/maps means the agent runs there.
    public static let libraryName = "libdrip-agent.so"
}
