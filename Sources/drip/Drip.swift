import ArgumentParser

@main
struct Drip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drip",
        abstract: "Find memory leaks in live Linux processes, the IOS-XR way.",
        discussion: """
            Step 1, which process: 'drip ps' (watch Dynamic climb) or 'drip compare start', wait, \
            'drip compare end', 'drip compare report'. Step 2, where in it: 'drip process', 'drip map', 'drip dll',
            and with the heap agent ('drip run -- CMD'): 'drip heap', 'drip heap snapshot', 'drip heap diff'.
            Every command that takes a process accepts a JID, pid:N, or a process name.
            IOS-XR spellings work too: 'drip show processes memory', 'drip show memory compare report', ...
            """,
        version: "0.1.0",
        subcommands: [Ps.self, Compare.self, ProcessInfoCommand.self, MapCommand.self, Dll.self, Heap.self, Run.self,
                      Supervise.self,
                      Show.self, Core.self, Dumpcore.self]
    )
}
