/// One entry of `.symtab` or `.dynsym` that drip keeps: functions and data objects.
public struct ELFSymbol: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// STT_FUNC, or STT_GNU_IFUNC (glibc's strlen, memcpy... resolve through these).
        case function
        /// STT_OBJECT / STT_TLS: data such as the agent's `drip_agent_state`.
        case object
    }

    public enum Binding: Sendable, Hashable {
        case local, global, weak
    }

    /// The raw (mangled) name as stored in the string table.
    public var name: String
    /// `st_value`: the file virtual address (add the module bias for a runtime address).
    public var value: UInt64
    public var size: UInt64
    public var kind: Kind
    public var binding: Binding
    /// True when read from `.dynsym` (exported), false for `.symtab`.
    public var isDynamic: Bool

    public init(name: String, value: UInt64, size: UInt64, kind: Kind, binding: Binding, isDynamic: Bool) {
        self.name = name; self.value = value; self.size = size; self.kind = kind; self.binding = binding
        self.isDynamic = isDynamic
    }

    /// True when `address` lies inside `[value, value + size)`.
    public func contains(_ address: UInt64) -> Bool {
        address >= value && address - value < size
    }
}
