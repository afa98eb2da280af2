extension ELFFile {
    /// The function whose `[value, value + size)` contains `address` (a file
    /// virtual address). Zero-sized symbols (hand-written assembly) match only
    /// when no sized symbol does, and only up to the next symbol.
    public func function(containing address: UInt64) -> ELFSymbol? {
        // Binary search: last symbol with value <= address.
        var low = 0, high = functions.count
        while low < high {
            let mid = (low + high) / 2
            if functions[mid].value <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let candidate = functions[low - 1]
        if candidate.contains(address) { return candidate }
        if candidate.size == 0 { return candidate }
        return nil
    }

    /// A function or data object by its exact (mangled) name, e.g.
    /// `drip_agent_state`. Defined symbols only; `.symtab` and `.dynsym` both count.
    public func symbol(named name: String) -> ELFSymbol? { symbolsByName[name] }

    /// Every named function and object symbol, unsorted.
    public var allSymbols: [ELFSymbol] { Array(symbolsByName.values) }
}
