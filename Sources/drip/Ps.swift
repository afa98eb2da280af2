import ArgumentParser
import DripModel
import DripPresent
import DripProc

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "Show the memory of every process, most Dynamic first.",
        discussion: """
            Columns (bytes of address space, from /proc/PID/maps; docs/COLUMNS.md has the full rules):
              Text     non-writable mappings of the program and its shared libraries (code, read-only data, RELRO)
              Data     writable mappings of the program and libraries, plus each one's anonymous .bss tail
              Stack    [stack] and every thread stack (the mapping holding a thread's stack pointer,
                       or an anonymous writable mapping right above a small ---p guard)
              Dynamic  [heap] and every other private anonymous writable mapping (malloc arenas, mmapped
                       blocks); PROT_NONE reservations are not counted
            With --detail:
              Dyn-Limit  RLIMIT_DATA soft limit (/proc/PID/limits), or the heap agent's limit
                         (DRIP_LIMIT_BYTES) when that is tighter, or unlimited
              Dyn-Phy    resident bytes of the Dynamic mappings (smaps Rss)
              Shm-Tot    shared mappings ('s' in maps: shm, memfd, shared files)
              Phy-Tot    resident bytes of the whole process (smaps_rollup Rss)
              Virtual    all mapped address space (VmSize), reservations included
              Swap       swapped-out bytes (smaps_rollup Swap)
            Kernel threads are not listed. A process that exits while drip reads it is skipped.
            drip re-reads a process's maps only when its kernel counters (statm: VmSize, VmExe, VmData+VmStk;
            thread count) changed since drip last read them; --rescan reads them all.
            """,
        aliases: []
    )

    enum SortKey: String, ExpressibleByArgument, CaseIterable {
        case dynamic, text, data, stack, jid, pid, name, resident
    }

    @OptionGroup var output: OutputOptions

    @Flag(name: .long, help: "Add Dyn-Limit, Dyn-Phy, Shm-Tot, Phy-Tot, Virtual and Swap (reads smaps: slower).")
    var detail = false

    @Option(name: .long, help: "Sort by: \(SortKey.allCases.map(\.rawValue).joined(separator: ", ")).")
    var sort: SortKey = .dynamic

    @Option(name: .long, help: "Show only the first N rows.")
    var top: Int?

    @Flag(name: .long, help: "Read every process's maps, even where the kernel's counters say nothing changed.")
    var rescan = false

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        if sort == .resident && !detail { throw ValidationError("--sort resident needs --detail") }
    }

    func run() throws {
        try reportingErrors { try Self.perform(detail: detail, sort: sort, top: top, rescan: rescan, output: output) }
    }

    static func perform(detail: Bool, sort: SortKey, top: Int?, rescan: Bool = false, output: OutputOptions) throws {
        do {
            let machine = try Machine()
            let census = try machine.census(detail: detail ? .all : [], rescan: rescan)
            var jobs = sorted(HeapCounterReader.attach(to: census.jobs), by: sort)
            if let top { jobs = Array(jobs.prefix(top)) }
            print(output.json ? try PsView.json(jobs, detail: detail)
                              : PsView.table(jobs, sizes: output.sizes, detail: detail), terminator: "")
            if census.denied > 0 {
                var err = StandardError()
                print("drip: \(census.denied) processes not shown: permission denied (run as root to see them)", to: &err)
            }
        }
    }

    static func sorted(_ jobs: [Job], by sort: SortKey) -> [Job] {
        func key(_ j: Job) -> UInt64 {
            switch sort {
            case .dynamic: return j.process.memory.dynamic
            case .text: return j.process.memory.text
            case .data: return j.process.memory.data
            case .stack: return j.process.memory.stack
            case .resident: return j.process.memory.resident
            case .jid, .pid, .name: return 0
            }
        }
        switch sort {
        case .jid: return jobs.sorted { $0.jid < $1.jid }
        case .pid: return jobs.sorted { $0.process.pid < $1.process.pid }
        case .name: return jobs.sorted { ($0.process.name, $0.jid) < ($1.process.name, $1.jid) }
        default: return jobs.sorted { (key($0), $1.jid) > (key($1), $0.jid) }
        }
    }
}
