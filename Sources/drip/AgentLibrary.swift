import DripModel
import Foundation

/// Where libdrip-agent.so is: `$DRIP_AGENT`, else next to the drip executable
/// (the Makefile puts it there), else a system install.
enum AgentLibrary {
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let explicit = environment["DRIP_AGENT"], !explicit.isEmpty {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw DripError.missing("DRIP_AGENT=\(explicit): no such file")
            }
            return explicit
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = (exe as NSString).deletingLastPathComponent
        let candidates = [dir + "/" + HeapAgent.libraryName, dir + "/../lib/" + HeapAgent.libraryName,
                          "/usr/local/lib/" + HeapAgent.libraryName, "/usr/lib/" + HeapAgent.libraryName]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw DripError.missing("\(HeapAgent.libraryName) not found next to drip (\(dir)) or in /usr/local/lib, /usr/lib; build it with 'make' or set DRIP_AGENT")
        }
        return (found as NSString).standardizingPath
    }
}
