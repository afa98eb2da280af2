import DripModel
import Foundation
import TOMLKit

/// `drip supervise --config FILE`: what to run and how (docs/SUPERVISOR.md has every key).
public struct SupervisorConfig: Sendable, Equatable {
    /// Where cores, their reports and dumper.log go.
    public var dumpDirectory: String
    /// Total bytes the dumps may use; the oldest middle dumps go first (first./last. are kept).
    public var dumpMaxBytes: UInt64
    /// Middle dumps (neither first nor last) kept per service.
    public var dumpKeep: Int
    public var services: [ServiceConfig]

    public static let defaultDumpMaxBytes: UInt64 = 1 << 30
    public static let defaultDumpKeep = 3

    public init(dumpDirectory: String, dumpMaxBytes: UInt64 = Self.defaultDumpMaxBytes,
                dumpKeep: Int = Self.defaultDumpKeep, services: [ServiceConfig]) {
        self.dumpDirectory = dumpDirectory; self.dumpMaxBytes = dumpMaxBytes; self.dumpKeep = dumpKeep
        self.services = services
    }

    public func service(named name: String) -> ServiceConfig? { services.first { $0.name == name } }
}

/// One `[service.NAME]` table.
public struct ServiceConfig: Sendable, Equatable {
    public var name: String
    /// argv; the first element is a path or a name looked up on PATH.
    public var command: [String]
    /// Dynamic-memory (live heap) limit in bytes: DRIP_LIMIT_BYTES with the agent, RLIMIT_DATA without.
    public var memoryLimit: UInt64?
    public var respawn: Bool
    public var maxSpawnsPerMinute: Int
    /// Preload libdrip-agent.so.
    public var agent: Bool
    /// Added to (or replacing) the supervisor's environment.
    public var environment: [String: String]
    public var workingDirectory: String?
    /// Run as this user (name or uid); needs root.
    public var user: String?
    /// Seconds between SIGTERM and SIGKILL when stopping.
    public var gracePeriod: Double
    /// Seconds to wait before a respawn.
    public var respawnDelay: Double
    /// Seconds a held-down service waits before it is tried again; nil: until `drip supervise start`.
    public var holdDown: Double?
    /// DRIP_SAMPLE_BYTES for the agent.
    public var sampleBytes: UInt64?
    /// Write a core (and the dumper lines) when the service dies of a fatal signal.
    public var dump: Bool

    public init(name: String, command: [String], memoryLimit: UInt64? = nil, respawn: Bool = true,
                maxSpawnsPerMinute: Int = 12, agent: Bool = true, environment: [String: String] = [:],
                workingDirectory: String? = nil, user: String? = nil, gracePeriod: Double = 5,
                respawnDelay: Double = 0.2, holdDown: Double? = nil, sampleBytes: UInt64? = nil, dump: Bool = true) {
        self.name = name; self.command = command; self.memoryLimit = memoryLimit; self.respawn = respawn
        self.maxSpawnsPerMinute = maxSpawnsPerMinute; self.agent = agent; self.environment = environment
        self.workingDirectory = workingDirectory; self.user = user; self.gracePeriod = gracePeriod
        self.respawnDelay = respawnDelay; self.holdDown = holdDown; self.sampleBytes = sampleBytes; self.dump = dump
    }
}

/// A bad config: one line naming the file and the key.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// Dotted key (`service.snmpd.memory_limit`), or nil for the whole file.
    public var key: String?
    public var problem: String

    public init(file: String, key: String?, problem: String) { self.file = file; self.key = key; self.problem = problem }

    public var description: String {
        if let key { return "\(file): \(key): \(problem)" }
        return "\(file): \(problem)"
    }
}

extension SupervisorConfig {
    public static let topKeys = ["dump_dir", "dump_max_bytes", "dump_keep", "service"]
    public static let serviceKeys = ["command", "args", "memory_limit", "respawn", "max_spawns_per_minute", "agent",
                                     "environment", "working_dir", "user", "grace_period", "respawn_delay", "hold_down",
                                     "sample_bytes", "dump"]

    /// - Parameter defaultDumpDirectory: where cores go without `dump_dir` (StateStore.defaultDumpDirectory).
    public static func load(path: String, defaultDumpDirectory: String) throws -> SupervisorConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].flatMap { ($0 as? NSError)?.code }
                .map { String(cString: strerror(Int32($0))) } ?? "cannot read"
            throw ConfigError(file: path, key: nil, problem: reason)
        }
        return try parse(text, file: path, defaultDumpDirectory: defaultDumpDirectory)
    }

    /// Parses the TOML text of a config; every problem names its key.
    public static func parse(_ text: String, file: String,
                             defaultDumpDirectory: String) throws -> SupervisorConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(file: "\(file):\(e.source.begin.line)", key: nil, problem: "TOML syntax: \(e.description)")
        }
        func fail(_ key: String, _ problem: String) -> ConfigError { ConfigError(file: file, key: key, problem: problem) }
        for key in root.keys where !topKeys.contains(key) {
            throw fail(key, "unknown key (known: \(topKeys.joined(separator: ", ")))")
        }
        var config = SupervisorConfig(dumpDirectory: defaultDumpDirectory, services: [])
        if let v = root["dump_dir"] {
            guard let s = v.string, s.hasPrefix("/") else { throw fail("dump_dir", "must be an absolute path") }
            config.dumpDirectory = s
        }
        if let v = root["dump_max_bytes"] { config.dumpMaxBytes = try size(v, key: "dump_max_bytes", fail) }
        if let v = root["dump_keep"] {
            guard let n = v.int, n >= 0 else { throw fail("dump_keep", "must be a whole number, 0 or more") }
            config.dumpKeep = n
        }
        guard let services = root["service"] else { throw fail("service", "no [service.NAME] table: nothing to supervise") }
        guard let table = services.table else { throw fail("service", "must be a table of [service.NAME] tables") }
        for name in table.keys.sorted() {
            let key = "service.\(name)"
            guard isValidName(name) else {
                throw fail(key, "service names are letters, digits, '-', '_' and '.' (at most 64)")
            }
            guard let t = table[name]?.table else { throw fail(key, "must be a table") }
            config.services.append(try service(name, t, key: key, fail))
        }
        if config.services.isEmpty { throw fail("service", "no [service.NAME] table: nothing to supervise") }
        return config
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.first != "." &&
            name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }

    static func service(_ name: String, _ t: TOMLTable, key: String,
                        _ fail: (String, String) -> ConfigError) throws -> ServiceConfig {
        for k in t.keys where !serviceKeys.contains(k) {
            throw fail("\(key).\(k)", "unknown key (known: \(serviceKeys.joined(separator: ", ")))")
        }
        func k(_ sub: String) -> String { "\(key).\(sub)" }
        var command: [String]
        switch t["command"] {
        case nil: throw fail(k("command"), "missing: give the program, e.g. command = [\"/usr/sbin/snmpd\", \"-f\"]")
        case let v? where v.string != nil: command = [v.string!]
        case let v?:
            guard let a = v.array, !a.isEmpty else { throw fail(k("command"), "must be a non-empty array of strings") }
            command = try a.map { guard let s = $0.string else { throw fail(k("command"), "must be a non-empty array of strings") }; return s }
        }
        if command[0].isEmpty { throw fail(k("command"), "the program must not be empty") }
        if let v = t["args"] {
            guard let a = v.array else { throw fail(k("args"), "must be an array of strings") }
            command += try a.map { guard let s = $0.string else { throw fail(k("args"), "must be an array of strings") }; return s }
        }
        var s = ServiceConfig(name: name, command: command)
        if let v = t["memory_limit"] { s.memoryLimit = try size(v, key: k("memory_limit"), fail) }
        if let v = t["respawn"] { s.respawn = try bool(v, k("respawn"), fail) }
        if let v = t["agent"] { s.agent = try bool(v, k("agent"), fail) }
        if let v = t["dump"] { s.dump = try bool(v, k("dump"), fail) }
        if let v = t["max_spawns_per_minute"] {
            guard let n = v.int, n >= 1, n <= 10_000 else { throw fail(k("max_spawns_per_minute"), "must be a whole number from 1 to 10000") }
            s.maxSpawnsPerMinute = n
        }
        if let v = t["environment"] {
            guard let env = v.table else { throw fail(k("environment"), "must be a table of strings, e.g. environment = { LANG = \"C\" }") }
            for name in env.keys {
                guard let value = env[name]?.string else { throw fail(k("environment.\(name)"), "must be a string") }
                guard !name.isEmpty, !name.contains("="), !name.contains("\0"), !value.contains("\0") else {
                    throw fail(k("environment.\(name)"), "not a valid environment variable")
                }
                s.environment[name] = value
            }
        }
        if let v = t["working_dir"] {
            guard let d = v.string, d.hasPrefix("/") else { throw fail(k("working_dir"), "must be an absolute path") }
            s.workingDirectory = d
        }
        if let v = t["user"] {
            if let n = v.int, n >= 0 { s.user = String(n) } else if let u = v.string, !u.isEmpty { s.user = u } else {
                throw fail(k("user"), "must be a user name or uid")
            }
        }
        if let v = t["grace_period"] { s.gracePeriod = try duration(v, k("grace_period"), fail) }
        if let v = t["respawn_delay"] { s.respawnDelay = try duration(v, k("respawn_delay"), fail) }
        if let v = t["hold_down"] { s.holdDown = try duration(v, k("hold_down"), fail) }
        if let v = t["sample_bytes"] {
            let n = try size(v, key: k("sample_bytes"), fail)
            guard n > 0 else { throw fail(k("sample_bytes"), "must be at least 1") }
            s.sampleBytes = n
        }
        if s.sampleBytes != nil && !s.agent { throw fail(k("sample_bytes"), "needs agent = true") }
        return s
    }

    static func bool(_ v: TOMLValueConvertible, _ key: String, _ fail: (String, String) -> ConfigError) throws -> Bool {
        guard let b = v.bool else { throw fail(key, "must be true or false") }
        return b
    }

    /// A byte size: an integer, or a string like "16M" (ByteSize.parse).
    static func size(_ v: TOMLValueConvertible, key: String, _ fail: (String, String) -> ConfigError) throws -> UInt64 {
        if let n = v.int, n >= 0 { return UInt64(n) }
        if let s = v.string, let n = ByteSize.parse(s) { return n }
        throw fail(key, "'\(v.string ?? v.debugDescription)' is not a size like 16M, 512K, 2G or a byte count")
    }

    /// Seconds: a number, or a string like "500ms", "5s", "2m".
    static func duration(_ v: TOMLValueConvertible, _ key: String, _ fail: (String, String) -> ConfigError) throws -> Double {
        if let n = v.int, n >= 0 { return Double(n) }
        if let d = v.double, d >= 0, d.isFinite { return d }
        if let s = v.string, let d = parseDuration(s) { return d }
        throw fail(key, "'\(v.string ?? v.debugDescription)' is not a duration like 5, 1.5, \"500ms\", \"5s\" or \"2m\"")
    }

    public static func parseDuration(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let d = Double(number), d >= 0, d.isFinite, number.allSatisfy({ $0.isNumber || $0 == "." }) { return d * scale }
            return nil
        }
        if let d = Double(text), d >= 0, d.isFinite, text.allSatisfy({ $0.isNumber || $0 == "." }) { return d }
        return nil
    }
}
