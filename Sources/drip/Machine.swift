import DripModel
import DripProc
import DripStore
import Foundation

/// Wires the /proc reader to the JID registry: every command's view of the
/// live processes goes through here, so JIDs are assigned the same way everywhere.
struct Machine {
    let reader = ProcessReader()
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
    func census(detail: ProcessReader.Detail = []) throws -> Census {
        let bootID = try reader.bootID()
        var records: [ProcessRecord] = []
        var denied = 0
        for pid in try reader.pids() {
            do {
                if let record = try reader.process(pid, detail: detail) { records.append(record) }
            } catch ProcError.noSuchProcess {
                continue
            } catch ProcError.permissionDenied {
                denied += 1
            } catch ProcError.io(_, let code) where code == ESRCH || code == ENOENT {
                continue
            }
        }
        let requests = records.map { JidRequest(instance: $0.instance, key: $0.serviceKey, name: $0.name) }
        let assigned = try store.assignJids(bootID: bootID, processes: requests)
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
                throw DripError.notFound("pid \(pid) is a kernel thread or could not be read")
            }
            throw DripError.notFound("no process with \(selector)")
        }
        if matches.count > 1 {
            let list = matches.sorted { $0.jid < $1.jid }
                .map { "JID \($0.jid) (pid \($0.process.pid))" }.joined(separator: ", ")
            throw DripError.ambiguous("\(selector) matches \(matches.count) processes: \(list); name one by JID or pid:N")
        }
        guard !detail.isEmpty else { return found }
        guard let reread = try reader.process(found.process.pid, detail: detail),
              reread.instance == found.process.instance else {
            throw DripError.notFound("process \(selector) exited while being read")
        }
        return Job(jid: found.jid, instanceNumber: found.instanceNumber, process: reread)
    }
}
