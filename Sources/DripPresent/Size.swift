/// How byte counts are shown: `human` like the router's detail view (K/M/G,
/// binary units), or exact bytes.
public enum SizeStyle: Sendable {
    case human
    case bytes

    public func format(_ bytes: UInt64) -> String {
        switch self {
        case .bytes: return String(bytes)
        case .human: return Self.human(Double(bytes))
        }
    }

    public func format(signed value: Int64) -> String {
        if value < 0 { return "-" + format(value.magnitude) }
        return format(UInt64(value))
    }

    public func format(_ bytes: UInt64?, none: String = "-") -> String {
        bytes.map { format($0) } ?? none
    }

    static func human(_ value: Double) -> String {
        let units = ["K", "M", "G", "T", "P"]
        if value < 1024 { return String(Int(value)) }
        var v = value / 1024
        var unit = 0
        while v >= 1024, unit < units.count - 1 { v /= 1024; unit += 1 }
        // One decimal below 10 keeps two significant digits; above that whole units read better.
        if v < 10 {
            let tenths = (v * 10).rounded()
            if tenths < 100 { return "\(Int(tenths) / 10).\(Int(tenths) % 10)\(units[unit])" }
        }
        return "\(Int(v.rounded()))\(units[unit])"
    }
}
