import ArgumentParser
import DripModel
import DripPresent
import DripProc

struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Show a process's address map: Address, Bytes, Resident, What.",
        discussion: """
            What is one of: Program Text, Program Data, DLL Text, DLL Data, Stack, Allocated Memory (Dynamic),
            Shared Memory, Physical Mapped Memory (VmFlags io/pf), Mapped File, Read-only Anonymous, Reserved (---p),
            Kernel ([vdso], [vvar]). Resident comes from /proc/PID/smaps.
            """
    )

    @OptionGroup var target: ProcessArgument
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors { try Self.perform(try target.selector, output: output) }
    }

    static func perform(_ selector: ProcessSelector, output: OutputOptions) throws {
        let machine = try Machine()
        let job = try machine.job(selector)
        let (regions, classes) = try machine.reader.classifiedRegions(job.process.pid, threads: job.process.threads,
                                                                     executable: job.process.executable,
                                                                     perRegionUsage: true)
        print(output.json ? try MapView.json(regions, classes) : MapView.table(regions, classes, sizes: output.sizes),
              terminator: "")
    }
}

struct Dll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dll",
        abstract: "Show the shared libraries mapped into a process: text and data addresses and sizes, build-id."
    )

    @OptionGroup var target: ProcessArgument
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors { try Self.perform(try target.selector, output: output) }
    }

    static func perform(_ selector: ProcessSelector, output: OutputOptions) throws {
        let machine = try Machine()
        let job = try machine.job(selector)
        let (regions, classes) = try machine.reader.classifiedRegions(job.process.pid, threads: job.process.threads,
                                                                     executable: job.process.executable)
        let libraries = Libraries.from(regions, classes).map { lib in
            var lib = lib
            lib.buildID = BuildIDs.read(lib.path, pid: job.process.pid)
            return lib
        }
        print(output.json ? try MapView.dllJSON(libraries) : MapView.dllTable(libraries, sizes: output.sizes),
              terminator: "")
    }
}
