import ArgumentParser
import DripPresent

/// Output flags every command shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .long, help: "Print sizes as exact byte counts instead of K/M/G.")
    var bytes = false

    var sizes: SizeStyle { bytes ? .bytes : .human }
}

/// The process a command looks at.
struct ProcessArgument: ParsableArguments {
    @Argument(help: "The process: a JID (12), a pid (pid:1234), or a process name.")
    var process: String

    var selector: ProcessSelector {
        get throws { try ProcessSelector(parsing: process) }
    }
}
