/// A cursor over the bytes of a /proc file. /proc text is ASCII with fixed
/// field order, so the parsers walk bytes instead of building Strings: `drip ps`
/// parses thousands of these files per run.
struct ByteScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, index: Int = 0) {
        self.bytes = bytes; self.index = index
    }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpaces() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
    }

    mutating func skipLine() {
        while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        if index < bytes.count { index += 1 }
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        if index < bytes.count, bytes[index] == byte { index += 1; return true }
        return false
    }

    mutating func hex() -> UInt64? {
        var value: UInt64 = 0
        let start = index
        while index < bytes.count {
            let c = bytes[index]
            let digit: UInt64
            switch c {
            case 0x30...0x39: digit = UInt64(c - 0x30)
            case 0x61...0x66: digit = UInt64(c - 0x61 + 10)
            case 0x41...0x46: digit = UInt64(c - 0x41 + 10)
            default: return index > start ? value : nil
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 16)
            if overflow { return nil }
            value = shifted | digit
            index += 1
        }
        return index > start ? value : nil
    }

    mutating func decimal() -> UInt64? {
        var value: UInt64 = 0
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[index] - 0x30))
            if o1 || o2 { return nil }
            value = a
            index += 1
        }
        return index > start ? value : nil
    }

    /// A possibly negative decimal (stat has a few signed fields).
    mutating func signedDecimal() -> Int64? {
        let negative = consume(0x2D)
        guard let magnitude = decimal(), magnitude <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }

    /// The bytes up to (not including) the next space or end of line.
    mutating func word() -> UnsafeBufferPointer<UInt8> {
        let start = index
        while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0A, bytes[index] != 0x09 { index += 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<index])
    }

    /// The rest of the line, without the newline.
    mutating func restOfLine() -> UnsafeBufferPointer<UInt8> {
        let start = index
        while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        let line = UnsafeBufferPointer(rebasing: bytes[start..<index])
        if index < bytes.count { index += 1 }
        return line
    }
}

extension String {
    init(procBytes: UnsafeBufferPointer<UInt8>) {
        self = String(decoding: procBytes, as: UTF8.self)
    }
}
