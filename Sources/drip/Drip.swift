import ArgumentParser

@main
struct Drip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drip",
        abstract: "Find memory leaks in live Linux processes, the IOS-XR way.",
        discussion: """
            Step 1, which process: 'drip ps' (watch Dynamic climb) or 'drip compare start', wait, \
            'drip compare end', 'drip compare report'. Step 2, where in it: 'drip process', 'drip map', 'drip dll'.
            Every command that takes a process accepts a JID, pid:N, or a process name.
            IOS-XR spellings work too: 'drip show processes memory', 'drip show memory compare report', ...
            """,
        subcommands: [Ps.self, Compare.self, ProcessInfoCommand.self, MapCommand.self, Dll.self, Show.self]
    )
}
