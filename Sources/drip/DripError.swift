import ArgumentParser
import DripCoreDump
import DripHeap
import DripProc
import DripStore
import DripSupervisor
#if canImport(Glibc)
import Glibc
#endif

/// Errors the CLI reports as one line, with an exit code a script can tell apart.
enum DripError: Error, CustomStringConvertible {
    case usage(String)
    case notFound(String)
    case ambiguous(String)
    case missing(String)

    var description: String {
        switch self {
        case .usage(let m), .notFound(let m), .ambiguous(let m), .missing(let m): return m
        }
    }
}

/// Runs a command body; any failure becomes `drip: <one line>` on stderr and a
/// non-zero exit (2 usage, 3 not found/ambiguous, 4 missing state, 5 permission,
/// 6 bad /proc data, 7 state store, 8 no heap agent in the process, 1 anything else).
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let (message, code) = describe(error)
        var stderr = StandardError()
        print("drip: \(message)", to: &stderr)
        throw ExitCode(code)
    }
}

func describe(_ error: Error) -> (String, Int32) {
    switch error {
    case let e as DripError:
        switch e {
        case .usage: return (e.description, 2)
        case .notFound, .ambiguous: return (e.description, 3)
        case .missing: return (e.description, 4)
        }
    case let e as ProcError:
        switch e {
        case .noSuchProcess: return (e.description, 3)
        case .permissionDenied: return (e.description, 5)
        case .malformed: return (e.description, 6)
        case .io: return (e.description, 1)
        }
    case let e as StoreError: return (e.description, 7)
    case let e as ConfigError: return (e.description, 2)
    case let e as ControlSocket.Failure:
        switch e {
        case .notRunning: return (e.description, 4)
        case .badMode, .notOwner: return (e.description, 5)
        default: return (e.description, 1)
        }
    case let e as SpawnError: return (e.description, 1)
    case let e as SystemError: return (e.description, 1)
    case let e as HeapError:
        switch e {
        case .noAgent: return (e.description, 8)
        case .permissionDenied: return (e.description, 5)
        case .processGone: return (e.description, 3)
        default: return (e.description, 1)
        }
    case let e as CoreDumpError:
        switch e {
        case .noSuchProcess: return (e.description, 3)
        case .permissionDenied, .alreadyTraced: return (e.description, 5)
        case .output: return (e.description, 9)
        case .interrupted(let signal): return (e.description, 128 + signal)
        default: return (e.description, 1)
        }
    default: return ("\(error)", 1)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}
