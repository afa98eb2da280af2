import Foundation

/// Address → source frames for one reporting session.
///
/// Uses one `llvm-symbolizer` child in batch mode (file, line, inlined frames,
/// C++ demangling) and falls back to the ELF symbol tables (function+offset,
/// no file:line) for whatever it cannot answer: no tool, a crash, a stripped
/// module. Results are cached per (object, offset) for the session's lifetime.
/// Missing symbols never fail a report: such frames show `module+0xOFF`.
/// Thread-safe; calls are serialized.
///
/// Stack walkers record return addresses, which point after the call: subtract
/// one from every frame but the innermost before symbolizing, so the call itself
/// (and the inlined chain around it) is what gets named.
public final class Symbolizer: @unchecked Sendable {
    /// The llvm-symbolizer in use, or nil for symbol-table-only mode.
    public let toolPath: String?
    private let lock = NSLock()
    private var process: SymbolizerProcess?
    private var toolFailed = false
    private var cache: [Key: Entry] = [:]
    private var elfFiles: [String: ELFFile?] = [:]

    private struct Key: Hashable {
        var object: String
        var offset: UInt64
    }

    private struct Entry {
        var locations: [SourceLocation]
        var functionOffset: UInt64?
    }

    /// - Parameter toolPath: the llvm-symbolizer to run; pass nil to use the ELF
    ///   symbol tables only. Defaults to `Symbolizer.locateTool()`.
    public init(toolPath: String? = Symbolizer.locateTool()) {
        self.toolPath = toolPath
    }

    deinit { process?.terminate() }

    /// Finds llvm-symbolizer: `$DRIP_LLVM_SYMBOLIZER`, else `llvm-symbolizer` on
    /// PATH, else the Swift toolchain's copy in /opt/swift or /usr.
    public static func locateTool(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let files = FileManager.default
        if let explicit = environment["DRIP_LLVM_SYMBOLIZER"], !explicit.isEmpty {
            return files.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/opt/swift/usr/bin", "/usr/bin"]
        for directory in directories {
            let candidate = directory + "/llvm-symbolizer"
            if files.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Symbolizes runtime addresses of the process `map` describes, in order.
    /// Addresses outside every module (JIT code, anonymous memory) come back unresolved.
    public func symbolize(_ addresses: [UInt64], in map: ModuleMap) -> [SymbolizedFrame] {
        var placed: [ModuleAddress] = []
        var slots: [Int?] = []
        for address in addresses {
            if let resolved = map.resolve(address) {
                slots.append(placed.count); placed.append(resolved)
            } else {
                slots.append(nil)
            }
        }
        let frames = symbolize(placed)
        return zip(addresses, slots).map { address, slot in
            slot.map { frames[$0] } ?? SymbolizedFrame(address: address, module: nil, offset: address, locations: [])
        }
    }

    /// Symbolizes addresses already placed in their modules, in order. Duplicates
    /// are looked up once.
    public func symbolize(_ addresses: [ModuleAddress]) -> [SymbolizedFrame] {
        lock.lock()
        defer { lock.unlock() }
        var missing: [Key] = []
        var seen = Set<Key>()
        for address in addresses {
            let key = Key(object: address.objectPath, offset: address.offset)
            if cache[key] == nil, seen.insert(key).inserted { missing.append(key) }
        }
        if !missing.isEmpty { resolve(missing) }
        return addresses.map { address in
            let entry = cache[Key(object: address.objectPath, offset: address.offset)]
            return SymbolizedFrame(address: address.address, module: address.module, offset: address.offset,
                                   locations: entry?.locations ?? [], functionOffset: entry?.functionOffset)
        }
    }

    /// Stops the llvm-symbolizer child now rather than at deinit.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        process?.terminate()
        process = nil
    }

    // MARK: - Resolution (called with the lock held)

    private func resolve(_ keys: [Key]) {
        // llvm-symbolizer's input syntax quotes the module; a path holding a quote
        // or newline cannot be expressed, so those go to the symbol tables directly.
        let expressible = keys.filter { !$0.object.contains("\"") && !$0.object.contains("\n") }
        var answers: [String] = []
        if let tool = liveProcess(), !expressible.isEmpty {
            answers = tool.query(expressible.map { "\"\($0.object)\" 0x" + String($0.offset, radix: 16) })
            if answers.count < expressible.count {
                // It died or hung: do not retry it for the rest of the session.
                process = nil
                toolFailed = true
            }
        }
        let decoder = JSONDecoder()
        for (index, key) in expressible.enumerated() where index < answers.count {
            guard let answer = try? decoder.decode(LLVMSymbolizerAnswer.self, from: Data(answers[index].utf8)) else {
                continue
            }
            cache[key] = entry(from: answer, key: key)
        }
        for key in keys where cache[key] == nil {
            cache[key] = fallbackEntry(key)
        }
    }

    private func liveProcess() -> SymbolizerProcess? {
        if let process { return process }
        guard let toolPath, !toolFailed else { return nil }
        // --functions=linkage: names from the symbol table when there is no debug info.
        process = try? SymbolizerProcess(toolPath: toolPath, arguments: [
            "--output-style=JSON", "--inlines", "--demangle", "--functions=linkage",
        ])
        if process == nil { toolFailed = true }
        return process
    }

    /// An answer's frames. When llvm-symbolizer read the module it already used the
    /// same `.symtab`/`.dynsym` drip would, so only a module it could not read
    /// (`Error`) goes to the fallback: parsing a large library's tables here would
    /// cost more than the whole batch query.
    private func entry(from answer: LLVMSymbolizerAnswer, key: Key) -> Entry {
        guard answer.Error == nil, let symbols = answer.Symbol else { return fallbackEntry(key) }
        let locations: [SourceLocation] = symbols.compactMap { symbol in
            let name = symbol.FunctionName.flatMap { $0.isEmpty || $0 == "??" ? nil : $0 }
            let line = symbol.Line ?? 0
            // Line 0 means "no line information": the file is then only a guess
            // (objects without DWARF report crtstuff.c), so it is not shown.
            let file = line == 0 ? nil : symbol.FileName.flatMap { $0.isEmpty || $0 == "??" ? nil : $0 }
            guard name != nil || file != nil else { return nil }
            return SourceLocation(function: name.map(Demangler.demangle), file: file, line: line,
                                  column: symbol.Column ?? 0)
        }
        var functionOffset: UInt64?
        if let start = symbols.last?.StartAddress, start.hasPrefix("0x"),
           let value = UInt64(start.dropFirst(2), radix: 16), value <= key.offset, !locations.isEmpty {
            functionOffset = key.offset - value
        }
        return Entry(locations: locations, functionOffset: functionOffset)
    }

    /// Function+offset from `.symtab`/`.dynsym`; empty when the address is in no symbol.
    private func fallbackEntry(_ key: Key) -> Entry {
        if elfFiles[key.object] == nil { elfFiles[key.object] = .some(try? ELFFile(contentsOf: key.object)) }
        guard let elf = elfFiles[key.object] ?? nil, let symbol = elf.function(containing: key.offset) else {
            return Entry(locations: [], functionOffset: nil)
        }
        return Entry(locations: [SourceLocation(function: Demangler.demangle(symbol.name), file: nil, line: 0)],
                     functionOffset: key.offset - symbol.value)
    }
}
