/// Byte counts as people write them: `16M`, `512K`, `2G`, `4096` (binary units).
public enum ByteSize {
    public static func parse(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let last = t.last else { return nil }
        let shifts: [Character: UInt64] = ["K": 10, "k": 10, "M": 20, "m": 20, "G": 30, "g": 30, "T": 40, "t": 40]
        var digits = Substring(t)
        var shift: UInt64 = 0
        if let s = shifts[last] {
            shift = s
            digits = digits.dropLast()
            if digits.last == "i" || digits.last == "I" { return nil }
        } else if t.hasSuffix("B") || t.hasSuffix("b") {
            return nil
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), let value = UInt64(digits),
              value <= (UInt64.max >> shift) else { return nil }
        return value << shift
    }
}

import Foundation
