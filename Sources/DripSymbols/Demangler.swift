#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The Swift runtime's demangler, exported from libswiftCore (swift/Runtime/Debug.h).
// llvm-symbolizer's demangler knows Itanium, Microsoft, Rust and D names, not Swift
// (checked with LLVM 21 from the Swift 6.3 toolchain), so drip demangles Swift itself.
@_silgen_name("swift_demangle")
private func _swiftDemangle(_ mangledName: UnsafePointer<CChar>?, _ mangledNameLength: Int,
                            _ outputBuffer: UnsafeMutablePointer<CChar>?,
                            _ outputBufferSize: UnsafeMutablePointer<Int>?,
                            _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

/// Turns linkage names into names people read.
///
/// Swift names are shown **simplified** (decided for drip's reports, which are
/// read next to C and C++ frames): the module qualifier of every name is dropped
/// (`main.Leaker` → `Leaker`, `Swift.Int` → `Int`), a function's parameter list
/// becomes its argument labels and its return type is dropped, as Swift itself
/// writes function references: `$s4main6LeakerC8makeNodeyAA0D0CSiF` reads
/// `Leaker.makeNode(_:)`, not `main.Leaker.makeNode(Swift.Int) -> main.Node`.
/// `fullSwiftName(_:)` gives the unsimplified form when the module matters.
public enum Demangler {
    /// A readable name for any linkage name: Swift (simplified), C++ (via the
    /// C++ runtime's `__cxa_demangle`), or the name unchanged (C, already demangled).
    public static func demangle(_ name: String) -> String {
        if isSwiftSymbol(name) { return fullSwiftName(name).map(simplifySwift) ?? name }
        if name.hasPrefix("_Z") { return cxxName(name) ?? name }
        return name
    }

    /// True for Swift mangled names: `$s` (Swift 5+), `$S` (4.2), `$e` (Embedded),
    /// `_T0` (4.0), each optionally with the Mach-O leading underscore.
    public static func isSwiftSymbol(_ name: String) -> Bool {
        for prefix in ["$s", "$S", "$e", "_$s", "_$S", "_$e", "_T0"] where name.hasPrefix(prefix) { return true }
        return false
    }

    /// The Swift runtime's full demangling, e.g. `main.Leaker.make() -> ()`; nil if not Swift.
    public static func fullSwiftName(_ mangled: String) -> String? {
        // LTO and function-splitting suffixes (`.llvm.123`, `.cold.1`) are not part of the mangling.
        let core = mangled.split(separator: ".", maxSplits: 1).first.map(String.init) ?? mangled
        return core.withCString { pointer -> String? in
            guard let result = _swiftDemangle(pointer, strlen(pointer), nil, nil, 0) else { return nil }
            defer { free(result) }
            return String(cString: result)
        }
    }

    /// C++ demangling through `__cxa_demangle`, looked up at run time so drip does
    /// not link libstdc++ for it (the Swift runtime has it loaded on Linux anyway).
    public static func cxxName(_ mangled: String) -> String? {
        guard let demangle = cxaDemangle else { return nil }
        var status: Int32 = 0
        guard let result = demangle(mangled, nil, nil, &status), status == 0 else { return nil }
        defer { free(result) }
        return String(cString: result)
    }

    private typealias CxaDemangle = @convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?,
                                                    UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int32>?)
        -> UnsafeMutablePointer<CChar>?

    private static let cxaDemangle: CxaDemangle? = {
        // RTLD_DEFAULT is a null handle on glibc and musl.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__cxa_demangle") else { return nil }
        return unsafeBitCast(symbol, to: CxaDemangle.self)
    }()

    /// Simplifies a full Swift demangling (see the type's documentation).
    public static func simplifySwift(_ full: String) -> String {
        let unqualified = dropModuleQualifiers(Array(full))
        return String(labelParameterLists(unqualified))
    }

    static func isIdentifier(_ c: Character) -> Bool {
        c == "_" || c == "$" || c.isLetter || c.isNumber
    }

    /// Drops the first component of every dotted chain: in a full demangling it is
    /// the module (`Swift.Int`, `main.Leaker.make`).
    static func dropModuleQualifiers(_ chars: [Character]) -> [Character] {
        var out: [Character] = []
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let startsChain = isIdentifier(c) && !c.isNumber && (i == 0 || (!isIdentifier(chars[i - 1]) && chars[i - 1] != "."))
            if startsChain {
                var j = i
                while j < chars.count, isIdentifier(chars[j]) { j += 1 }
                if j + 1 < chars.count, chars[j] == ".", isIdentifier(chars[j + 1]), !chars[j + 1].isNumber {
                    i = j + 1  // skip "Module."
                    continue
                }
                out.append(contentsOf: chars[i..<j])
                i = j
                continue
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// Rewrites `name(a: T, U) -> R` as `name(a:_:)`; parameter lists are the ones
    /// directly after a name or a generic clause (types in parentheses follow a
    /// space or punctuation and stay as they are).
    static func labelParameterLists(_ chars: [Character]) -> [Character] {
        var out: [Character] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "(", i > 0, isIdentifier(chars[i - 1]) || chars[i - 1] == ">",
                  let close = matchingParen(chars, from: i) else {
                out.append(c); i += 1; continue
            }
            let params = splitTopLevel(Array(chars[(i + 1)..<close]))
            out.append("(")
            for param in params { out.append(contentsOf: label(of: param)); out.append(":") }
            out.append(")")
            i = close + 1
            // Drop " -> ReturnType" up to the end or a top-level " in " (closure contexts).
            if i + 3 < chars.count, Array(chars[i..<(i + 4)]) == [" ", "-", ">", " "] {
                i = endOfType(chars, from: i + 4)
            }
        }
        return out
    }

    static func matchingParen(_ chars: [Character], from open: Int) -> Int? {
        var depth = 0
        for k in open..<chars.count {
            if chars[k] == "(" { depth += 1 }
            if chars[k] == ")" { depth -= 1; if depth == 0 { return k } }
        }
        return nil
    }

    /// Splits a parameter list at commas outside any brackets ("->" is not a bracket).
    static func splitTopLevel(_ chars: [Character]) -> [[Character]] {
        guard chars.contains(where: { $0 != " " }) else { return [] }
        var parts: [[Character]] = [[]]
        var depth = 0
        for (k, c) in chars.enumerated() {
            switch c {
            case "(", "[", "<": depth += 1
            case ")", "]": depth -= 1
            case ">" where k == 0 || chars[k - 1] != "-": depth -= 1
            case "," where depth == 0: parts.append([]); continue
            default: break
            }
            parts[parts.count - 1].append(c)
        }
        return parts
    }

    /// `count: Int` → `count`; an unlabeled parameter → `_`.
    static func label(of param: [Character]) -> [Character] {
        let trimmed = Array(param.drop { $0 == " " })
        var k = 0
        while k < trimmed.count, isIdentifier(trimmed[k]) { k += 1 }
        if k > 0, k + 1 < trimmed.count, trimmed[k] == ":", trimmed[k + 1] == " " { return Array(trimmed[..<k]) }
        return ["_"]
    }

    /// Index just past a type that starts at `start`: the end, or a top-level " in ".
    static func endOfType(_ chars: [Character], from start: Int) -> Int {
        var depth = 0
        var k = start
        while k < chars.count {
            let c = chars[k]
            if c == "(" || c == "[" || c == "<" { depth += 1 }
            if c == ")" || c == "]" || (c == ">" && chars[k - 1] != "-") { depth -= 1 }
            if depth < 0 { return k }
            if depth == 0, k + 3 < chars.count, Array(chars[k..<(k + 4)]) == [" ", "i", "n", " "] { return k }
            k += 1
        }
        return k
    }
}
