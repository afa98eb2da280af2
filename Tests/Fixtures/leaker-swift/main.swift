// fixture-leaker-swift: leaks Swift class instances (swift_allocObject →
// malloc) from a known function; the tests check the demangled caller.
#if canImport(Glibc)
import Glibc
#endif

final class Session {
    var id = 0
    var user = 0
    var started = 0
    var bytes = 0
}  // 16-byte object header + 4 Ints = 48 bytes

nonisolated(unsafe) var kept: [Session] = []
nonisolated(unsafe) var lineOpen = 0

@inline(never)
func openSessions(_ count: Int) {
    for i in 0..<count {
        lineOpen = #line; let session = Session()
        session.id = i
        kept.append(session)
    }
}

kept.reserveCapacity(100_000)
openSessions(40)
print("line_open=\(lineOpen) instance_size=\(class_getInstanceSize(Session.self))")
print("ready pid=\(getpid())")
fflush(nil)
while let line = readLine() {
    if line.hasPrefix("leak ") {
        let n = Int(line.dropFirst(5)) ?? 0
        openSessions(n)
        print("leaked \(n)")
        fflush(nil)
    } else if line == "quit" {
        break
    }
}

/// The allocation size swift_allocObject asks malloc for.
func class_getInstanceSize(_ type: AnyClass) -> Int { 16 + 4 * MemoryLayout<Int>.size }
