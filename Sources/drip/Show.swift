import ArgumentParser

/// The IOS-XR spellings: `drip show processes memory`, `drip show memory compare report`, ...
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "IOS-XR style aliases (show processes, show memory, show dll).",
        subcommands: [Processes.self, Memory.self, ShowDll.self]
    )

    struct Processes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "processes",
            abstract: "show processes memory [detail] | show processes X",
            subcommands: [ProcessesMemory.self, ProcessesOne.self],
            defaultSubcommand: ProcessesOne.self
        )
    }

    struct ProcessesMemory: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "memory", abstract: "Same as 'drip ps'.")
        @Argument(help: "'detail' for the detail columns (same as --detail).")
        var detailWord: String?
        @OptionGroup var output: OutputOptions
        @Flag(name: .long, help: "Add the detail columns.") var detail = false
        @Option(name: .long, help: "Show only the first N rows.") var top: Int?

        func validate() throws {
            if let w = detailWord, w != "detail" { throw ValidationError("expected 'detail', got '\(w)'") }
        }
        func run() throws {
            try reportingErrors {
                try Ps.perform(detail: detail || detailWord == "detail", sort: .dynamic, top: top, output: output)
            }
        }
    }

    struct ProcessesOne: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "process", abstract: "Same as 'drip process X'.")
        @OptionGroup var target: ProcessArgument
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors { try ProcessInfoCommand.perform(try target.selector, output: output) }
        }
    }

    struct Memory: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "memory",
            abstract: "show memory compare start|end|report | show memory X",
            subcommands: [MemoryCompare.self, MemoryHeap.self, MemoryMap.self],
            defaultSubcommand: MemoryMap.self
        )
    }

    struct MemoryCompare: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "compare", abstract: "Same as 'drip compare'.")
        @Argument(help: "start, end or report.") var action: Compare.Action
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors { try Compare.perform(action, output: output) }
        }
    }

    /// `show memory heap dllname X` and `show memory heap allocated dllname X`.
    struct MemoryHeap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "heap",
            abstract: "show memory heap [allocated] dllname X: same as 'drip heap X' ('allocated': --blocks)."
        )
        @Argument(help: "[allocated] dllname X") var words: [String]
        @OptionGroup var output: OutputOptions
        @Flag(name: .long, help: "Print every distinct stack of each caller.") var stacks = false
        @Option(name: .long, help: "With allocated: at most this many blocks (0 = all).") var limit: Int = 1000

        func validate() throws {
            var w = words
            if w.first == "allocated" { w.removeFirst() }
            guard w.count == 2, w[0] == "dllname" else {
                throw ValidationError("expected 'heap [allocated] dllname X'")
            }
        }
        func run() throws {
            try reportingErrors {
                try HeapShow.perform(try ProcessSelector(parsing: words.last!), stacks: stacks,
                                     blocks: words.first == "allocated", limit: limit, output: output)
            }
        }
    }

    struct MemoryMap: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "map", abstract: "Same as 'drip map X'.")
        @OptionGroup var target: ProcessArgument
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors { try MapCommand.perform(try target.selector, output: output) }
        }
    }

    struct ShowDll: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dll", abstract: "Same as 'drip dll X'.")
        @OptionGroup var target: ProcessArgument
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors { try Dll.perform(try target.selector, output: output) }
        }
    }
}
