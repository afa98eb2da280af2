/// How a user names a process on the command line.
enum ProcessSelector: Equatable, CustomStringConvertible {
    case jid(Int64)
    case pid(Int32)
    case name(String)

    init(parsing text: String) throws {
        if text.hasPrefix("pid:") {
            guard let pid = Int32(text.dropFirst(4)), pid > 0 else {
                throw DripError.usage("'\(text)' is not a valid pid: expected pid:N with N a positive number")
            }
            self = .pid(pid)
        } else if let jid = Int64(text) {
            guard jid > 0 else { throw DripError.usage("'\(text)' is not a valid JID: JIDs are positive numbers") }
            self = .jid(jid)
        } else if text.isEmpty {
            throw DripError.usage("empty process name")
        } else {
            self = .name(text)
        }
    }

    var description: String {
        switch self {
        case .jid(let j): return "JID \(j)"
        case .pid(let p): return "pid \(p)"
        case .name(let n): return "name '\(n)'"
        }
    }
}
