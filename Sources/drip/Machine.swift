import DripModel
import DripProc
import DripStore
import DripSymbols
import Foundation

/// Wires the /proc reader to the JID registry: every command's view of the
/// live processes goes through here, so JIDs are assigned the same way everywhere.
struct Machine {
    let reader = ProcessReader(dataSegmentEnd: DataSegmentCache().dataSegmentEnd)
    let store: StateStore

    init() throws {
        store = try StateStore(directory: StateStore.defaultDirectory())
    }

    struct Census {
        var jobs: [Job]
        /// Processes whose memory this user may not read.
        var denied: Int
    }

    /// Every user process with its JID. Processes that exit mid-read are skipped.
    /// Processes the registry already knows are not described again (cmdline,
    /// exe, cgroup), and their maps are not read again while their mapping
    /// fingerprint (statm and thread count) is unchanged; `rescan` reads every
    /// maps file. The work runs on every core.
    /// `describing` replaces what a pid is described as (`drip run` registers
    /// itself as the program it is about to exec).
    func census(detail: ProcessReader.Detail = [], rescan: Bool = false,
                describing: [Int32: ProcessDescription] = [:]) throws -> Census {
        let bootID = try reader.bootID()
        let known = try store.knownProcesses(bootID: bootID)
        let reader = self.reader
        let reuse = detail.isEmpty && !rescan
        enum Outcome: Sendable { case record(ProcessRecord, MeasuredUsage?), skipped, denied }
        let outcomes = parallelMap(try reader.pids()) { pid -> Outcome in
            do {
                let stat = try reader.stat(pid)
                if stat.isKernelThread { return .skipped }
                let instance = ProcessInstance(pid: pid, startTicks: stat.startTicks)
                let fingerprint = try reader.fingerprint(stat)
                if reuse, describing[pid] == nil, let k = known[instance], let cached = k.usage, cached.fingerprint == fingerprint {
                    return .record(reader.process(stat, description: k.description, usage: cached), nil)
                }
                let description = try describing[pid] ?? known[instance]?.description ?? reader.describe(stat)
                let record = try reader.process(stat, description: description, detail: detail)
                var base = record.memory
                (base.resident, base.dynamicResident, base.proportional, base.swap) = (0, 0, 0, 0)
                let usage = MeasuredUsage(fingerprint: fingerprint, memory: base, runsHeapAgent: record.runsHeapAgent)
                // Only what changed is written back: a rescan of an idle machine writes nothing.
                return .record(record, known[instance]?.usage == usage ? nil : usage)
            } catch ProcError.permissionDenied {
                return .denied
            } catch {
                // Gone mid-read (ENOENT/ESRCH, or an empty maps of a dying process).
                return .skipped
            }
        }
        var records: [ProcessRecord] = []
        var measured: [ProcessInstance: MeasuredUsage] = [:]
        var denied = 0
        for outcome in outcomes {
            switch outcome {
            case .record(let r, let usage):
                records.append(r)
                if let usage { measured[r.instance] = usage }
            case .denied: denied += 1
            case .skipped: break
            }
        }
        let requests = records.map { JidRequest(instance: $0.instance, description: $0.description) }
        let assigned = try store.assignJids(bootID: bootID, processes: requests, measured: measured)
        let jobs = records.compactMap { r in
            assigned[r.instance].map { Job(jid: $0.jid, instanceNumber: $0.instance, process: r) }
        }
        return Census(jobs: jobs, denied: denied)
    }

    /// The one process a selector names, read with `detail`.
    func job(_ selector: ProcessSelector, detail: ProcessReader.Detail = []) throws -> Job {
        let census = try self.census()
        let matches: [Job]
        switch selector {
        case .jid(let jid): matches = census.jobs.filter { $0.jid.value == jid }
        case .pid(let pid): matches = census.jobs.filter { $0.process.pid == pid }
        case .name(let name):
            matches = census.jobs.filter { job in
                job.process.name == name || job.process.executable.map { ($0 as NSString).lastPathComponent } == name
            }
        }
        guard let found = matches.first else {
            if case .pid(let pid) = selector, kill(pid, 0) == 0 || errno == EPERM {
                // Reading it alone gives the real reason (permission denied, most often).
                _ = try reader.process(pid)
                throw DripError.notFound("pid \(pid) is a kernel thread")
            }
            throw DripError.notFound("no process with \(selector)")
        }
        if matches.count > 1 {
            let list = matches.sorted { $0.jid < $1.jid }
                .map { "JID \($0.jid) (pid \($0.process.pid))" }.joined(separator: ", ")
            throw DripError.ambiguous("\(selector) matches \(matches.count) processes: \(list); name one by JID or pid:N")
        }
        // Measure it again with the detail asked for (the census may have reused
        // stored totals), keeping the description the JID was given under.
        let stat = try reader.stat(found.process.pid)
        guard stat.startTicks == found.process.instance.startTicks else {
            throw DripError.notFound("process \(selector) exited while being read")
        }
        let reread = try reader.process(stat, description: found.process.description, detail: detail)
        return Job(jid: found.jid, instanceNumber: found.instanceNumber, process: reread)
    }
}
