import DripHeap
import DripModel
import DripProc

/// Fills in the heap agent's counters for the processes that run it (the
/// `mallocs` column of `drip compare`, the heap fields of `ps --json`).
/// A process whose agent cannot be read keeps no counters: its row shows '-'.
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
            }
            return job
        }
    }
}
