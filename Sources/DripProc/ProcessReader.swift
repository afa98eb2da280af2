import DripModel

/// Reads processes from /proc. Never prints; every failure is a `ProcError`.
public struct ProcessReader: Sendable {
    /// What to read beyond the cheap files (stat, cmdline, exe, cgroup, maps).
    public struct Detail: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// smaps_rollup: resident, proportional and swapped totals.
        public static let resident = Detail(rawValue: 1)
        /// /proc/PID/limits: RLIMIT_DATA.
        public static let limits = Detail(rawValue: 2)
        /// Full smaps: resident bytes per mapping (costly: ~10x maps).
        public static let perRegionUsage = Detail(rawValue: 4)
        public static let all: Detail = [.resident, .limits, .perRegionUsage]
    }

    let files: ProcFiles
    let dataSegmentEnd: RegionClassifier.DataSegmentEnd?

    /// `dataSegmentEnd` reads a module's program headers (see RegionClassifier.classify).
    public init(root: String = "/proc", dataSegmentEnd: RegionClassifier.DataSegmentEnd? = nil) {
        files = ProcFiles(root: root)
        self.dataSegmentEnd = dataSegmentEnd
    }

    public func pids() throws -> [Int32] {
        try files.numericEntries(files.root).sorted()
    }

    /// Names this boot, so that a (pid, start time) pair saved in the state store
    /// is not mistaken for a process of another boot.
    public func bootID() throws -> String {
        let bytes = try files.read("\(files.root)/sys/kernel/random/boot_id")
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func stat(_ pid: Int32) throws -> ProcStat {
        let path = files.path(pid, "stat")
        return try StatParser.parse(try files.read(path, pid: pid, sizeHint: 1024), path: path)
    }

    /// One process; nil for kernel threads (they have no user memory).
    public func process(_ pid: Int32, detail: Detail = []) throws -> ProcessRecord? {
        let stat = try self.stat(pid)
        if stat.isKernelThread { return nil }
        return try process(stat, description: try describe(stat), detail: detail)
    }

    /// A process whose description is already known (the JID registry keeps it).
    public func process(_ stat: ProcStat, description: ProcessDescription, detail: Detail = []) throws -> ProcessRecord {
        let usage = try measure(stat, executable: description.executable, detail: detail)
        return ProcessRecord(instance: ProcessInstance(pid: stat.pid, startTicks: stat.startTicks),
                             stat: (stat.parentPid, stat.state, stat.threads), description: description,
                             dataLimit: usage.dataLimit, memory: usage.memory, runsHeapAgent: usage.runsHeapAgent)
    }

    /// What a process is: cmdline, exe, cgroup, owner.
    public func describe(_ stat: ProcStat) throws -> ProcessDescription {
        let pid = stat.pid
        let cmdlineBytes = try files.read(files.path(pid, "cmdline"), pid: pid, sizeHint: 1024)
        let commandLine = cmdlineBytes.split(separator: 0, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        let args = commandLine.last == "" ? Array(commandLine.dropLast()) : commandLine
        let executable = (try? files.readLink(files.path(pid, "exe"), pid: pid)).map(Self.withoutDeletedSuffix)
        let cgroup = (try? files.read(files.path(pid, "cgroup"), pid: pid, sizeHint: 512)).flatMap(CgroupParser.path)
        let uid = try files.owner(pid)
        return ProcessDescription(name: Self.displayName(comm: stat.comm, executable: executable, commandLine: args),
                                  executable: executable, commandLine: args, cgroup: cgroup, uid: uid)
    }

    public struct Usage: Sendable {
        public var memory: MemoryTotals
        /// RLIMIT_DATA when `.limits` was asked for; nil = unlimited or not read.
        public var dataLimit: UInt64?
        public var runsHeapAgent: Bool
    }

    /// The kernel's counters that change whenever the process's mappings do.
    public func fingerprint(_ stat: ProcStat) throws -> MappingFingerprint {
        let path = files.path(stat.pid, "statm")
        return try StatmParser.fingerprint(try files.read(path, pid: stat.pid, sizeHint: 256), threads: stat.threads, path: path)
    }

    /// A process whose description is known and whose usage was measured under `fingerprint`.
    public func process(_ stat: ProcStat, description: ProcessDescription, usage: MeasuredUsage) -> ProcessRecord {
        ProcessRecord(instance: ProcessInstance(pid: stat.pid, startTicks: stat.startTicks),
                      stat: (stat.parentPid, stat.state, stat.threads), description: description,
                      dataLimit: nil, memory: usage.memory, runsHeapAgent: usage.runsHeapAgent)
    }

    /// What a process uses: its mappings, classified and summed.
    public func measure(_ stat: ProcStat, executable: String?, detail: Detail = []) throws -> Usage {
        let pid = stat.pid
        let (regions, classes) = try classifiedRegions(pid, threads: stat.threads, executable: executable,
                                                       perRegionUsage: detail.contains(.perRegionUsage))
        var memory = RegionClassifier.totals(regions, classes)
        if detail.contains(.resident) {
            let path = files.path(pid, "smaps_rollup")
            let usage = try MapsParser.parseRollup(try files.read(path, pid: pid), path: path)
            memory.resident = usage.rss
            memory.proportional = usage.pss
            memory.swap = usage.swap
        }
        var limit: UInt64?
        if detail.contains(.limits) {
            let path = files.path(pid, "limits")
            limit = try LimitsParser.dataLimit(try files.read(path, pid: pid), path: path)
        }
        let agentSuffix = "/" + HeapAgent.libraryName
        return Usage(memory: memory, dataLimit: limit, runsHeapAgent: regions.contains { $0.path.hasSuffix(agentSuffix) })
    }

    /// When a process started, from its start ticks and the boot time in /proc/stat.
    public func startDate(_ startTicks: UInt64) throws -> Date {
        let path = "\(files.root)/stat"
        let text = String(decoding: try files.read(path), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let btime = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) else {
            throw ProcError.malformed(path: path, reason: "no btime line")
        }
        return Date(timeIntervalSince1970: btime + Double(startTicks) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// The process's mappings, classified. `perRegionUsage` reads smaps instead of maps.
    public func classifiedRegions(_ pid: Int32, threads: Int? = nil, executable: String? = nil,
                                  perRegionUsage: Bool = false) throws -> ([Region], [MemoryClass]) {
        let regions = try self.regions(pid, perRegionUsage: perRegionUsage)
        let exe = executable ?? (try? files.readLink(files.path(pid, "exe"), pid: pid))
        let threadCount = try threads ?? self.stat(pid).threads
        let sps = threadCount > 1 ? stackPointers(pid) : []
        return RegionClassifier.classify(regions, executable: exe, stackPointers: sps, dataSegmentEnd: dataSegmentEnd)
    }

    public func regions(_ pid: Int32, perRegionUsage: Bool = false) throws -> [Region] {
        let path = files.path(pid, perRegionUsage ? "smaps" : "maps")
        let bytes = try files.read(path, pid: pid, sizeHint: perRegionUsage ? 65536 : 16384)
        if bytes.isEmpty {
            // maps is empty for a zombie or a process mid-exit: it has no memory left.
            if (try? self.stat(pid)) == nil { throw ProcError.noSuchProcess(pid: pid) }
        }
        return try MapsParser.parse(bytes, path: path)
    }

    /// Each thread's stack pointer, from /proc/PID/task/TID/syscall (second to
    /// last field; needs ptrace read access, and a running thread shows none).
    public func stackPointers(_ pid: Int32) -> [UInt64] {
        guard let tids = try? files.numericEntries(files.path(pid, "task"), pid: pid) else { return [] }
        var result: [UInt64] = []
        for tid in tids {
            guard let bytes = try? files.read(files.path(pid, "task/\(tid)/syscall"), pid: pid, sizeHint: 256) else { continue }
            let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            if fields.count >= 3, let sp = UInt64(fields[fields.count - 2].dropFirst(2), radix: 16) { result.append(sp) }
        }
        return result
    }

    /// The kernel truncates comm to 15 bytes; the executable's name is the full one.
    static func displayName(comm: String, executable: String?, commandLine: [String]) -> String {
        if comm.utf8.count >= 15 {
            let full = executable.map(withoutDeletedSuffix) ?? commandLine.first ?? comm
            if let base = full.split(separator: "/").last, base.hasPrefix(comm) { return String(base) }
        }
        return comm
    }

    static func withoutDeletedSuffix(_ path: String) -> String {
        path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }
}

import Foundation
