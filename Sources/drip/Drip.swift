import ArgumentParser

@main
struct Drip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drip",
        abstract: "Find memory leaks in live Linux processes, the IOS-XR way.",
        discussion: """
            1. Which process leaks: 'drip ps' (watch Dynamic climb), or 'drip compare start', wait, \
            'drip compare end', 'drip compare report'.
            2. Where in it: 'drip process', 'drip map', 'drip dll'; with the heap agent ('drip run -- CMD'): \
            'drip heap', 'drip heap snapshot', 'drip heap diff'.
            3. When it crashes: 'drip core' for a live core; 'drip supervise' runs services with limits, \
            respawn and cores.
            A process is named by JID (12), pid (pid:1234) or name. IOS-XR spellings work too: \
            'drip show processes memory', 'drip show memory compare report', 'drip dumpcore running 12', ...
            """,
        version: "0.1.0",
        subcommands: [Ps.self, Compare.self, ProcessInfoCommand.self, MapCommand.self, Dll.self, Heap.self, Run.self,
                      Core.self, Supervise.self, Show.self, Dumpcore.self]
    )
}
