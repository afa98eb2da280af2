import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Everything the child needs between fork and exec, resolved beforehand: the
/// child runs only async-signal-safe calls on memory prepared by the parent
/// (the supervisor has other threads; see fork(2) "multithreaded").
public struct SpawnPlan: Sendable {
    public var path: String
    public var argv: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    public var uid: uid_t?
    public var gid: gid_t?
    public var groups: [gid_t]?
    /// RLIMIT_DATA soft limit (the fallback limit when the agent is not loaded).
    public var dataLimit: UInt64?

    public init(path: String, argv: [String], environment: [String: String], workingDirectory: String? = nil,
                uid: uid_t? = nil, gid: gid_t? = nil, groups: [gid_t]? = nil, dataLimit: UInt64? = nil) {
        self.path = path; self.argv = argv; self.environment = environment; self.workingDirectory = workingDirectory
        self.uid = uid; self.gid = gid; self.groups = groups; self.dataLimit = dataLimit
    }
}

public enum SpawnError: Error, Sendable, CustomStringConvertible {
    case notExecutable(String)
    case noSuchUser(String)
    case noSuchDirectory(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .notExecutable(let p): return "\(p): command not found or not executable"
        case .noSuchUser(let u): return "no such user '\(u)'"
        case .noSuchDirectory(let d): return "working_dir \(d): no such directory"
        case .system(let e): return e.description
        }
    }
}

/// fork + exec with a gate: the child waits on a pipe until the parent has
/// PTRACE_SEIZEd it (and registered its JID), so not one instruction of the
/// service runs untraced. The child gets its own process group.
enum ServiceSpawner {
    /// Resolves a service's plan: program on PATH, user, groups, environment.
    static func plan(_ service: ServiceConfig, agentPath: String?, baseEnvironment: [String: String]) throws -> SpawnPlan {
        var env = baseEnvironment
        var uid: uid_t?, gid: gid_t?, groups: [gid_t]?
        if let user = service.user {
            let (u, g, home, name) = try lookupUser(user)
            uid = u; gid = g
            groups = groupList(name: name, gid: g)
            env["HOME"] = home; env["USER"] = name; env["LOGNAME"] = name
        }
        for (k, v) in service.environment { env[k] = v }
        guard let path = resolve(service.command[0], path: env["PATH"] ?? baseEnvironment["PATH"]) else {
            throw SpawnError.notExecutable(service.command[0])
        }
        if let dir = service.workingDirectory {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw SpawnError.noSuchDirectory(dir)
            }
        }
        var dataLimit: UInt64?
        if service.agent, let agentPath {
            let existing = env["LD_PRELOAD"].map { " " + $0 } ?? ""
            env["LD_PRELOAD"] = agentPath + existing
            if let limit = service.memoryLimit { env["DRIP_LIMIT_BYTES"] = String(limit) }
            if let sample = service.sampleBytes { env["DRIP_SAMPLE_BYTES"] = String(sample) }
        } else {
            dataLimit = service.memoryLimit
        }
        return SpawnPlan(path: path, argv: service.command, environment: env, workingDirectory: service.workingDirectory,
                         uid: uid, gid: gid, groups: groups, dataLimit: dataLimit)
    }

    static func resolve(_ command: String, path: String?) -> String? {
        if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static func lookupUser(_ user: String) throws -> (uid_t, gid_t, String, String) {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let n = UInt32(user) {
            guard getpwuid_r(n, &pwd, &buffer, buffer.count, &result) == 0, result != nil else {
                return (n, n, "/", user) // a bare uid without a passwd entry: its gid is the same number
            }
        } else {
            guard getpwnam_r(user, &pwd, &buffer, buffer.count, &result) == 0, result != nil else {
                throw SpawnError.noSuchUser(user)
            }
        }
        return (pwd.pw_uid, pwd.pw_gid, String(cString: pwd.pw_dir), String(cString: pwd.pw_name))
    }

    static func groupList(name: String, gid: gid_t) -> [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, gid, &groups, &count) < 0 { return [gid] }
        }
        return Array(groups.prefix(Int(count)))
    }

    /// Forks the child, runs `gate(pid)` while the child waits before exec,
    /// then lets it exec. If `gate` throws, the child is killed and reaped.
    static func spawn(_ plan: SpawnPlan, label: String, gate: (pid_t) throws -> Void) throws -> pid_t {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SpawnError.system(SystemError("pipe")) }
        Sys.closeOnExec(fds[0]); Sys.closeOnExec(fds[1])
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)

        // Everything the child touches, allocated now.
        func cStrings(_ list: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
            let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: list.count + 1)
            for (i, s) in list.enumerated() { array[i] = strdup(s) }
            array[list.count] = nil
            return array
        }
        let argv = cStrings(plan.argv)
        let envp = cStrings(plan.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        let path = strdup(plan.path)!
        let cwd = plan.workingDirectory.map { strdup($0)! }
        let message = strdup("drip supervise: \(label): cannot run \(plan.path): exec failed\n")!
        let messageLength = strlen(message)
        let groups = UnsafeMutablePointer<gid_t>.allocate(capacity: max(plan.groups?.count ?? 0, 1))
        for (i, g) in (plan.groups ?? []).enumerated() { groups[i] = g }
        let groupCount = plan.groups?.count ?? 0
        let closeRange = Sys.closeRange
        defer {
            for list in [argv, envp] {
                var p = list
                while let s = p.pointee { free(s); p += 1 }
                list.deallocate()
            }
            free(path); cwd.map { free($0) }; free(message); groups.deallocate()
            if devNull >= 0 { close(devNull) }
        }
        var limit = rlimit()
        let wantsLimit = plan.dataLimit != nil
        if let v = plan.dataLimit {
            getrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &limit)
            limit.rlim_cur = min(rlim_t(v), limit.rlim_max)
        }
        let (uid, gid, setGroups) = (plan.uid, plan.gid, plan.groups != nil)
        var emptySet = sigset_t()
        sigemptyset(&emptySet)

        let pid = fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            throw SpawnError.system(SystemError("fork"))
        }
        if pid == 0 {
            // Child: async-signal-safe calls only, on memory prepared above.
            setpgid(0, 0)
            var go: UInt8 = 0
            var n: Int
            repeat { n = read(fds[0], &go, 1) } while n < 0 && errno == EINTR
            if n != 1 { _exit(127) } // the supervisor went away before letting us run
            if devNull >= 0 { dup2(devNull, 0) }
            if wantsLimit { setrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &limit) }
            if let cwd, chdir(cwd) != 0 { _ = write(2, message, messageLength); _exit(127) }
            if setGroups && setgroups(groupCount, groups) != 0 { _ = write(2, message, messageLength); _exit(127) }
            if let gid, setgid(gid) != 0 { _ = write(2, message, messageLength); _exit(127) }
            if let uid, setuid(uid) != 0 { _ = write(2, message, messageLength); _exit(127) }
            for s in Int32(1)..<Int32(65) where s != SIGKILL && s != SIGSTOP { signal(s, SIG_DFL) }
            sigprocmask(SIG_SETMASK, &emptySet, nil)
            // Mark every inherited descriptor above stderr close-on-exec (the state db, sockets).
            _ = closeRange?(3, UInt32.max, 4 /* CLOSE_RANGE_CLOEXEC */)
            execve(path, argv, envp)
            _ = write(2, message, messageLength)
            _exit(127)
        }
        close(fds[0])
        _ = setpgid(pid, pid) // also in the parent: no race with a kill of the group
        do {
            try gate(pid)
        } catch {
            kill(pid, SIGKILL)
            close(fds[1])
            _ = Sys.wait(pid, block: true)
            throw error
        }
        var go: UInt8 = 0x67
        _ = write(fds[1], &go, 1)
        close(fds[1])
        return pid
    }
}
