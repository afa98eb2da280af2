import Foundation

/// How a service's process ended.
public enum ExitReason: Sendable, Equatable, Codable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32, core: Bool)
    /// The program could not be started (exec failed, no such user, ...).
    case spawnFailed(String)

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal, _): return "signal \(signal) (\(SignalNames.name(signal)))"
        case .spawnFailed(let why): return "spawn failed: \(why)"
        }
    }

    /// True when the process died of a signal that normally dumps core (signal(7) "Core").
    public var isCrash: Bool {
        if case .signaled(let s, _) = self { return SignalNames.dumpsCore(s) }
        return false
    }
}

/// The sysmgr's respawn rule, as a pure function of the spawn history.
///
/// A service that ended without being asked to is started again after
/// `delay`, unless it was started `maxSpawnsPerMinute` times in the last 60
/// seconds: then it is held down (like IOS-XR's sysmgr), until `holdDown`
/// seconds pass (if set) or someone starts it by hand.
public struct RespawnPolicy: Sendable, Equatable {
    public var respawn: Bool
    public var maxSpawnsPerMinute: Int
    public var delay: Double
    public var holdDown: Double?

    public init(respawn: Bool, maxSpawnsPerMinute: Int, delay: Double = 0, holdDown: Double? = nil) {
        self.respawn = respawn; self.maxSpawnsPerMinute = maxSpawnsPerMinute; self.delay = delay; self.holdDown = holdDown
    }

    public init(_ service: ServiceConfig) {
        self.init(respawn: service.respawn, maxSpawnsPerMinute: service.maxSpawnsPerMinute, delay: service.respawnDelay,
                  holdDown: service.holdDown)
    }

    public enum Decision: Sendable, Equatable {
        /// Start it again at this time.
        case respawn(at: Date)
        /// Too many spawns in a minute: held down until the date (nil: until started by hand).
        case holdDown(until: Date?)
        /// Respawn is off: it stays down.
        case stayDown
    }

    /// The window the spawn limit counts over.
    public static let window: TimeInterval = 60

    /// What to do when a process the supervisor did not stop has ended.
    /// `spawns` are the start times of this service (any order); the ended one is among them.
    public func decide(spawns: [Date], now: Date) -> Decision {
        guard respawn else { return .stayDown }
        let recent = spawns.filter { now.timeIntervalSince($0) < Self.window }.count
        if recent >= maxSpawnsPerMinute {
            return .holdDown(until: holdDown.map { now.addingTimeInterval($0) })
        }
        return .respawn(at: now.addingTimeInterval(delay))
    }

    /// The spawn times worth keeping: those inside the window.
    public static func prune(_ spawns: [Date], now: Date) -> [Date] {
        spawns.filter { now.timeIntervalSince($0) < window }
    }
}

/// Signal names and their default actions (signal(7)), x86-64 numbering.
public enum SignalNames {
    static let names: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
        9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
        23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
        30: "SIGPWR", 31: "SIGSYS",
    ]

    public static func name(_ signal: Int32) -> String { names[signal] ?? "SIG\(signal)" }

    /// The signals whose default action is "Core": the ones the dumper dumps for
    /// (QUIT too: someone asked for a core on purpose).
    public static let coreSignals: Set<Int32> = [SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS]

    public static func dumpsCore(_ signal: Int32) -> Bool { coreSignals.contains(signal) }

    /// Signals that stop the process (group-stop) by default.
    public static let stopSignals: Set<Int32> = [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU]
}
