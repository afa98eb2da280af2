import CDripAgentFormat
import DripHeap
import DripModel
import DripProc
import Foundation

/// Fills in the heap agent's counters for the processes that run it (the
/// `mallocs` column of `drip compare`, the heap fields of `ps --json`).
/// A process whose agent cannot be read keeps no counters: its row shows '-'.
/// When the agent enforces a limit (DRIP_LIMIT_BYTES), `dataLimit` becomes the
/// tighter of RLIMIT_DATA and that limit: the dynamic-memory limit the process
/// really has (`Dyn-Limit` in `ps --detail`, `Dynamic limit` in `drip process`).
enum HeapCounterReader {
    static func attach(to jobs: [Job], reader: ProcessReader = ProcessReader()) -> [Job] {
        jobs.map { job in
            guard job.process.runsHeapAgent else { return job }
            var job = job
            let pid = job.process.pid
            if let regions = try? reader.regions(pid),
               let address = try? AgentReader().stateAddress(pid: pid, regions: regions),
               let counters = try? AgentReader().counters(pid: pid, stateAddress: address) {
                job.process.heap = counters
                if let limit = agentLimit(pid: pid, stateAddress: address) {
                    job.process.dataLimit = min(job.process.dataLimit ?? .max, limit)
                }
            }
            return job
        }
    }

    /// `limit_bytes` of the agent's state (0 = none), read through /proc/PID/mem.
    static func agentLimit(pid: Int32, stateAddress: UInt64) -> UInt64? {
        guard let offset = MemoryLayout<drip_agent_state>.offset(of: \drip_agent_state.limit_bytes) else { return nil }
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var value: UInt64 = 0
        let n = pread(fd, &value, 8, off_t(Int64(bitPattern: stateAddress &+ UInt64(offset))))
        return n == 8 && value != 0 ? value : nil
    }
}
