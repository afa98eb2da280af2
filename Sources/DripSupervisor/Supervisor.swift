import DripModel
import DripProc
import DripStore
import DripSymbols
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Registers a freshly spawned pid (still before exec) under its service's JID.
/// The CLI implements it with `Machine.census(describing:)`, so the JID lives
/// in the same registry `drip ps` reads.
public protocol JidRegistrar {
    func register(pid: Int32, description: ProcessDescription) throws -> Jid?
}

/// The process manager and dumper: one thread runs everything (ptrace
/// requests must come from the thread that seized the tracee), in a poll loop
/// over a signalfd (SIGCHLD, SIGTERM, SIGINT), the control socket and timers.
/// docs/SUPERVISOR.md describes the ptrace loop and how cores are taken.
public final class Supervisor {
    public let config: SupervisorConfig
    let stateDirectory: String
    let agentPath: String?
    let registrar: JidRegistrar?
    let store: StateStore?
    let dumper: CrashDumper
    let log: DumperLog
    let baseEnvironment: [String: String]
    lazy var symbolizer = Symbolizer(toolPath: nil)

    final class Service {
        var config: ServiceConfig
        var policy: RespawnPolicy
        var state = "stopped"
        var pid: Int32?
        var jid: Jid?
        var startTicks: UInt64?
        var threads = Set<Int32>()
        var spawns: [Date] = []
        var respawnCount = 0
        var lastStarted: Date?
        var lastExit: ExitReason?
        var nextStart: Double?
        var killAt: Double?
        var stopRequested = false
        var restartAfterStop = false
        var dumps = 0
        init(_ config: ServiceConfig) { self.config = config; policy = RespawnPolicy(config) }
    }

    var services: [Service] = []
    var ownerOfThread: [Int32: Service] = [:]
    var shuttingDown = false
    var signalFD: Int32 = -1
    var listenFD: Int32 = -1
    var storeFailed = false

    public init(config: SupervisorConfig, stateDirectory: String, agentPath: String?, registrar: JidRegistrar?,
                store: StateStore?, dumper: CrashDumper = CoreDumpCrashDumper(), log: DumperLog? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.stateDirectory = stateDirectory
        self.agentPath = agentPath
        self.registrar = registrar
        self.store = store
        self.dumper = dumper
        self.log = log ?? DumperLog(path: config.dumpDirectory + "/dumper.log")
        var env = environment
        // The supervisor's own agent settings must not leak into services that do not ask for them.
        for key in ["LD_PRELOAD", "DRIP_LIMIT_BYTES", "DRIP_SAMPLE_BYTES", "DRIP_AGENT"] { env[key] = nil }
        baseEnvironment = env
        services = config.services.map(Service.init)
    }

    /// Blocks the signals the loop reads from its signalfd. Call before any
    /// thread is created, so every thread inherits the mask.
    public static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Runs until SIGTERM/SIGINT, then stops every service. Returns the exit status.
    public func run() throws -> Int32 {
        Self.blockSignals()
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        signalFD = Sys.signalfd(&set)
        guard signalFD >= 0 else { throw SystemError("signalfd") }
        defer { close(signalFD) }
        // Orphaned grandchildren come to us, so we reap (and at the end kill) them: no zombies, no strays.
        if Sys.prctl(Sys.PR_SET_CHILD_SUBREAPER, 1) != 0 {
            log.sysmgr(4, "SUBREAPER", "prctl(PR_SET_CHILD_SUBREAPER) failed: \(String(cString: strerror(errno)))")
        }
        let socketPath = ControlSocket.path(stateDirectory: stateDirectory)
        listenFD = try ControlSocket.listen(path: socketPath)
        defer { close(listenFD); unlink(socketPath) }
        makeDumpDirectory()
        try? store?.removeSupervisedServices(except: services.map(\.config.name))
        log.sysmgr(6, "START", "supervising \(services.count) service(s); control socket \(socketPath); dumps in \(config.dumpDirectory)")
        for s in services { start(s, respawn: false) }
        persist()

        while true {
            pollOnce()
            reap()
            runTimers()
            if shuttingDown && services.allSatisfy({ $0.pid == nil }) { break }
        }
        killStragglers()
        persist()
        log.sysmgr(6, "STOP", "all services stopped; supervisor exiting")
        return 0
    }

    func makeDumpDirectory() {
        do {
            try FileManager.default.createDirectory(atPath: config.dumpDirectory, withIntermediateDirectories: true)
        } catch {
            log.dumper(3, "DIR_ERROR", "cannot create \(config.dumpDirectory): \((error as NSError).localizedDescription); cores will not be written")
        }
    }

    // MARK: the loop

    func pollOnce() {
        let now = Sys.monotonicNow()
        var timeout = 1.0
        for s in services {
            if let t = s.nextStart { timeout = min(timeout, t - now) }
            if let t = s.killAt { timeout = min(timeout, t - now) }
        }
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
        let r = poll(&fds, nfds_t(fds.count), Int32(max(0, timeout) * 1000) + 1)
        guard r > 0 else { return }
        if fds[0].revents != 0 { drainSignals() }
        if fds[1].revents != 0 { acceptClients() }
    }

    func drainSignals() {
        // struct signalfd_siginfo: 128 bytes, ssi_signo first.
        var info = [UInt32](repeating: 0, count: 32)
        while info.withUnsafeMutableBytes({ read(signalFD, $0.baseAddress, 128) }) == 128 {
            let signo = Int32(bitPattern: info[0])
            if signo == SIGTERM || signo == SIGINT {
                if !shuttingDown {
                    log.sysmgr(5, "SHUTDOWN", "\(SignalNames.name(signo)) received: stopping every service")
                    shuttingDown = true
                    for s in services { stop(s, restart: false) }
                }
            } else if signo == SIGHUP {
                log.reopen()
            }
        }
    }

    func reap() {
        while let (pid, status) = Sys.wait(-1, block: false), pid > 0 {
            handle(pid, status)
        }
    }

    func runTimers() {
        let now = Sys.monotonicNow()
        for s in services {
            if let t = s.killAt, t <= now, let pid = s.pid {
                log.sysmgr(4, "KILL", "\(label(s)) did not stop within \(s.config.gracePeriod) s: SIGKILL")
                kill(-pid, SIGKILL); kill(pid, SIGKILL)
                s.killAt = nil
            }
            if let t = s.nextStart, t <= now, !shuttingDown {
                s.nextStart = nil
                if s.state == "held down" { s.spawns = [] }
                start(s, respawn: s.state != "stopped")
                persist()
            }
        }
    }

    // MARK: ptrace events

    func handle(_ tid: Int32, _ status: Int32) {
        guard let s = ownerOfThread[tid] ?? adopt(tid) else { return } // an orphan we inherited: reaped, nothing else
        if Sys.exited(status) || Sys.signaled(status) {
            ownerOfThread[tid] = nil
            s.threads.remove(tid)
            if tid == s.pid {
                let reason: ExitReason = Sys.exited(status) ? .exited(code: Sys.exitCode(status))
                    : .signaled(signal: Sys.termSignal(status), core: Sys.coreDumped(status))
                ended(s, reason)
            }
            return
        }
        guard Sys.stopped(status) else { return }
        let signal = Sys.stopSignal(status)
        switch Sys.event(status) {
        case Sys.PTRACE_EVENT_CLONE:
            var message: UInt = 0
            if (try? Sys.ptrace(Sys.PTRACE_GETEVENTMSG, tid, 0, &message, name: "GETEVENTMSG")) != nil {
                let child = Int32(truncatingIfNeeded: message)
                s.threads.insert(child); ownerOfThread[child] = s
            }
            try? Sys.cont(tid, signal: 0)
        case Sys.PTRACE_EVENT_STOP:
            // A group-stop (SIGSTOP & co.) must stay a stop: LISTEN keeps it
            // stopped yet reports SIGCONT. Anything else (a new thread's first
            // stop, our own INTERRUPT) just continues.
            if SignalNames.stopSignals.contains(signal) { try? Sys.listen(tid) } else { try? Sys.cont(tid, signal: 0) }
        case 0:
            if shouldDump(s, tid: tid, signal: signal) {
                crash(s, tid: tid, signal: signal)
            } else {
                try? Sys.cont(tid, signal: signal) // re-inject: the tracee sees its signal as if we were not there
            }
        default:
            try? Sys.cont(tid, signal: 0)
        }
    }

    /// A stop of a tid we have not seen yet: a new thread whose first stop came
    /// before its parent's clone event. Its thread group says whose it is.
    func adopt(_ tid: Int32) -> Service? {
        guard let text = try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
              let tgid = Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces)),
              let s = services.first(where: { $0.pid == tgid }) else { return nil }
        s.threads.insert(tid); ownerOfThread[tid] = s
        return s
    }

    /// A signal-delivery-stop of a core signal whose action is the default one:
    /// the kernel is about to kill the process with it. A handled signal
    /// (SigCgt) is the program's business, and so is an ignored one.
    func shouldDump(_ s: Service, tid: Int32, signal: Int32) -> Bool {
        guard s.config.dump, SignalNames.dumpsCore(signal), let pid = s.pid else { return false }
        guard let d = Sys.signalDispositions(pid) else { return true }
        let bit = UInt64(1) << UInt64(signal - 1)
        return d.caught & bit == 0 && d.ignored & bit == 0
    }

    // MARK: the dumper

    func crash(_ s: Service, tid: Int32, signal: Int32) {
        guard let pid = s.pid else { try? Sys.cont(tid, signal: signal); return }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? s.config.command[0]
        let siginfo = (try? Sys.siginfo(tid)) ?? [UInt8](repeating: 0, count: 128)
        let registers = try? Sys.registers(tid)
        let resume = stopOthers(s, except: tid)
        let threads = [tid] + resume.keys.sorted()
        let index = (Sys.threads(pid).firstIndex(of: tid) ?? 0) + 1

        func int32(_ offset: Int) -> Int32 {
            siginfo.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
        }
        let (code, errorNumber) = (int32(8), int32(4))
        log.dumper(7, "DUMP_REQUEST", "Dump request for process \(exe)")
        log.dumper(4, "SIGNAL_NUMBER", "Thread \(index) received SIGNAL \(signal), si code \(code), si errno \(errorNumber)")
        // si_code <= 0: sent by a process (kill, tgkill, raise), whose pid is si_pid.
        let sender: String
        if code <= 0 {
            let senderPid = int32(16)
            let senderExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(senderPid)/exe")) ?? "pid \(senderPid)"
            sender = senderExe
        } else {
            sender = "the kernel"
        }
        let host = ProcessInfo.processInfo.hostName
        log.dumper(4, "SIGNALCORE_INFO", "Core for pid = \(pid) (\(exe)) as signal \(signal) sent by \(sender)@\(host)")
        if let pages = Self.residentPages(pid) { log.dumper(7, "PROC_PAGES", "Process memory pages \(pages)") }
        if let registers {
            for line in DumperLog.registerLines(registers) { log.dumper(7, "REGISTERS_INFO", line) }
            let frames = TraceBack.frames(pid: pid, registers: registers)
            for line in TraceBack.lines(pid: pid, frames: frames, symbolizer: symbolizer) { log.dumper(7, "TRACE_BACK", line) }
        }
        let request = CrashDumpRequest(pid: pid, stoppedThreads: threads, crashingThread: tid, signal: signal, siginfo: siginfo,
                                       processName: s.config.name, jid: s.jid, directory: config.dumpDirectory)
        do {
            let result = try dumper.dump(request)
            s.dumps += 1
            rotate(after: result, owner: s)
        } catch {
            log.dumper(3, "DUMP_FAILURE", "Dump of process \(exe) (pid \(pid)) failed: \(error)")
        }
        for (t, sig) in resume { try? Sys.cont(t, signal: sig) }
        // Continue with the signal: the process dies of it as it would have without us.
        try? Sys.cont(tid, signal: signal)
    }

    /// Stops every other thread with PTRACE_INTERRUPT and waits for each stop.
    /// Returns the stopped threads with the signal to give back when resuming
    /// (a thread caught in its own signal-delivery-stop keeps its signal).
    func stopOthers(_ s: Service, except crashing: Int32) -> [Int32: Int32] {
        guard let pid = s.pid else { return [:] }
        var pending = Set(Sys.threads(pid)).union(s.threads)
        pending.remove(crashing)
        var stopped: [Int32: Int32] = [:]
        for t in pending { try? Sys.interrupt(t) }
        let deadline = Sys.monotonicNow() + 5
        while !pending.isEmpty && Sys.monotonicNow() < deadline {
            var progress = false
            for t in pending {
                guard let (r, status) = Sys.wait(t, block: false) else { pending.remove(t); progress = true; continue }
                guard r == t else { continue }
                progress = true
                if Sys.exited(status) || Sys.signaled(status) {
                    pending.remove(t); s.threads.remove(t); ownerOfThread[t] = nil
                    continue
                }
                let event = Sys.event(status)
                if event == Sys.PTRACE_EVENT_CLONE {
                    var message: UInt = 0
                    if (try? Sys.ptrace(Sys.PTRACE_GETEVENTMSG, t, 0, &message, name: "GETEVENTMSG")) != nil {
                        let child = Int32(truncatingIfNeeded: message)
                        s.threads.insert(child); ownerOfThread[child] = s
                        pending.insert(child)
                    }
                    stopped[t] = 0
                } else if event == 0 {
                    stopped[t] = Sys.stopSignal(status)
                } else {
                    stopped[t] = 0
                }
                pending.remove(t)
            }
            if !progress { usleep(1000) }
        }
        if !pending.isEmpty {
            log.dumper(4, "THREAD_STOP", "threads \(pending.sorted()) did not stop; the core may miss their state")
        }
        return stopped
    }

    static func residentPages(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? Int(fields[1]) : nil
    }

    /// Names the new dump first./last., drops old middle ones, and keeps the directory under its cap.
    func rotate(after result: CrashDumpResult, owner s: Service) {
        let dir = config.dumpDirectory
        let written = [result.corePath] + (result.reportPath.map { [$0] } ?? [])
        let names = written.map { ($0 as NSString).lastPathComponent }
        let entries: [(name: String, bytes: UInt64, time: Date)] = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .compactMap { name in
                var info = stat()
                guard lstat(dir + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
                return (name, UInt64(info.st_size), Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec)))
            }
        let newEntries = entries.filter { names.contains($0.name) }
        guard let parsed = DumpRotation.parse(names[0]) else {
            logCore(result.corePath)
            return
        }
        let new = DumpRotation.Dump(files: names, role: .middle, stem: parsed.stem, owner: parsed.owner,
                                    bytes: newEntries.reduce(0) { $0 + $1.bytes }, time: Date())
        let existing = DumpRotation.dumps(entries.filter { !names.contains($0.name) })
        let plan = DumpRotation.plan(existing: existing, new: new, keep: config.dumpKeep, maxBytes: config.dumpMaxBytes)
        for action in plan.actions {
            switch action {
            case .rename(let from, let to): rename(dir + "/" + from, dir + "/" + to)
            case .delete(let name):
                unlink(dir + "/" + name)
                log.dumper(6, "DUMP_REMOVED", "\(dir)/\(name) removed (rotation)")
            }
        }
        let core = plan.newNames.first { $0.contains(".core") } ?? plan.newNames.first ?? names[0]
        logCore(dir + "/" + core)
        if plan.overCap {
            log.dumper(4, "DUMP_DIR_FULL", "\(dir) holds \(plan.bytesAfter) bytes of first/last cores, over dump_max_bytes \(config.dumpMaxBytes)")
        }
    }

    func logCore(_ path: String) {
        var info = stat()
        let size = stat(path, &info) == 0 ? UInt64(info.st_size) : 0
        let md5 = DumperLog.md5(path) ?? "?"
        log.dumper(6, "CORE_MD5", "\(path) has just been written. size:\(size) md5:\(md5)")
    }

    // MARK: services

    func label(_ s: Service) -> String {
        "\(s.config.name)(JID \(s.jid?.description ?? "-")) (pid \(s.pid.map(String.init) ?? "-"))"
    }

    func start(_ s: Service, respawn: Bool) {
        guard s.pid == nil else { return }
        s.stopRequested = false; s.restartAfterStop = false; s.nextStart = nil; s.killAt = nil
        let now = Date()
        s.spawns = RespawnPolicy.prune(s.spawns, now: now)
        s.spawns.append(now)
        do {
            let plan = try ServiceSpawner.plan(s.config, agentPath: agentPath, baseEnvironment: baseEnvironment)
            let cgroup = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)).flatMap { CgroupParser.path(Array($0.utf8)) }
            let description = ProcessDescription(name: s.config.name, executable: plan.path, commandLine: plan.argv,
                                                 cgroup: cgroup, uid: plan.uid ?? getuid(), jobName: s.config.name)
            var jid: Jid?
            let pid = try ServiceSpawner.spawn(plan, label: s.config.name) { pid in
                // EXITKILL: if the supervisor dies, so do its services (docs/SUPERVISOR.md: no orphans, no duplicates).
                try Sys.seize(pid, options: Sys.PTRACE_O_TRACECLONE | Sys.PTRACE_O_EXITKILL)
                do { jid = try registrar?.register(pid: pid, description: description) } catch {
                    log.sysmgr(4, "JID", "\(s.config.name): JID registration failed: \(error)")
                }
            }
            s.pid = pid
            s.jid = jid ?? s.jid
            s.startTicks = try? ProcessReader().stat(pid).startTicks
            s.threads = [pid]
            ownerOfThread[pid] = s
            s.lastStarted = now
            if respawn { s.respawnCount += 1 }
            s.state = "running"
            log.sysmgr(6, respawn ? "RESPAWN" : "SPAWN", "\(label(s)) started: \(plan.argv.joined(separator: " "))"
                       + (respawn ? " (respawn \(s.respawnCount))" : ""))
        } catch {
            s.lastExit = .spawnFailed("\(error)")
            log.sysmgr(3, "ERROR", "\(s.config.name): cannot start: \(error)")
            decideAfterExit(s)
        }
    }

    func stop(_ s: Service, restart: Bool) {
        s.nextStart = nil
        guard let pid = s.pid else {
            s.state = "stopped"
            if restart && !shuttingDown { s.spawns = []; start(s, respawn: false) }
            return
        }
        s.stopRequested = true
        s.restartAfterStop = restart
        s.state = "stopping"
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        s.killAt = Sys.monotonicNow() + s.config.gracePeriod
    }

    func ended(_ s: Service, _ reason: ExitReason) {
        let pid = s.pid ?? 0
        for t in s.threads { ownerOfThread[t] = nil }
        s.threads = []
        s.pid = nil; s.startTicks = nil; s.killAt = nil
        s.lastExit = reason
        // Whatever the service left in its process group goes with it.
        if pid > 0 { kill(-pid, SIGKILL) }
        if s.stopRequested || shuttingDown {
            log.sysmgr(6, "STOPPED", "\(s.config.name)(JID \(s.jid?.description ?? "-")) (pid \(pid)) stopped: \(reason)")
            s.state = "stopped"
            s.stopRequested = false
            if s.restartAfterStop && !shuttingDown {
                s.restartAfterStop = false
                s.spawns = []
                start(s, respawn: false)
            }
        } else {
            log.sysmgr(3, "ERROR", "\(s.config.name)(JID \(s.jid?.description ?? "-")) (pid \(pid)) abnormally terminated: \(reason)")
            decideAfterExit(s)
        }
        persist()
    }

    func decideAfterExit(_ s: Service) {
        switch s.policy.decide(spawns: s.spawns, now: Date()) {
        case .respawn(let at):
            s.state = "respawning"
            s.nextStart = Sys.monotonicNow() + max(0, at.timeIntervalSinceNow)
        case .holdDown(let until):
            s.state = "held down"
            s.nextStart = until.map { Sys.monotonicNow() + max(0, $0.timeIntervalSinceNow) }
            log.sysmgr(3, "HELD_DOWN", "\(s.config.name)(JID \(s.jid?.description ?? "-")) started \(s.spawns.count) times within 60 s "
                       + "(max_spawns_per_minute \(s.config.maxSpawnsPerMinute)): held down"
                       + (s.config.holdDown.map { " for \($0) s" } ?? " until 'drip supervise start \(s.config.name)'"))
        case .stayDown:
            s.state = "exited"
        }
    }

    /// After the services: SIGKILL their process groups and any orphan that came to us.
    func killStragglers() {
        let me = getpid()
        for s in services { if let pid = s.pid { kill(-pid, SIGKILL) } }
        let reader = ProcessReader()
        for pid in (try? reader.pids()) ?? [] {
            if let stat = try? reader.stat(pid), stat.parentPid == me { kill(pid, SIGKILL) }
        }
        let deadline = Sys.monotonicNow() + 2
        while Sys.monotonicNow() < deadline, let (pid, _) = Sys.wait(-1, block: false), pid > 0 {}
        while let (pid, _) = Sys.wait(-1, block: false), pid > 0 {}
    }

    // MARK: status and control

    public func statuses() -> [ServiceStatus] {
        services.map { s in
            ServiceStatus(name: s.config.name, jid: s.jid?.value, pid: s.pid, state: s.state, respawn: s.config.respawn,
                          respawnCount: s.respawnCount, maxSpawnsPerMinute: s.config.maxSpawnsPerMinute,
                          lastStarted: s.lastStarted, lastExit: s.lastExit?.description, memoryLimit: s.config.memoryLimit,
                          limitKind: s.config.memoryLimit == nil ? nil : (s.config.agent && agentPath != nil ? "agent" : "rlimit"),
                          dumps: s.dumps)
        }
    }

    func persist() {
        guard let store else { return }
        let me = getpid()
        let records = statuses().enumerated().map { i, status in
            SupervisedServiceRecord(status: status, startTicks: services[i].startTicks, supervisorPid: me)
        }
        do {
            try store.saveSupervisedServices(records)
            storeFailed = false
        } catch {
            if !storeFailed { log.sysmgr(3, "STATE_DB", "cannot record service state: \(error)") }
            storeFailed = true
        }
    }

    func acceptClients() {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { return }
            Sys.closeOnExec(fd)
            defer { close(fd) }
            let response = answer(fd)
            if var data = try? ControlResponse.encoder.encode(response) {
                data.append(0x0A)
                _ = ControlSocket.writeAll(fd, data)
            }
        }
    }

    func answer(_ fd: Int32) -> ControlResponse {
        let me = geteuid()
        guard let uid = ControlSocket.peerUID(fd), uid == me || uid == 0 else {
            return ControlResponse(ok: false, message: "permission denied: only uid \(me) may control this supervisor")
        }
        do {
            try ControlSocket.checkMode(ControlSocket.path(stateDirectory: stateDirectory))
        } catch {
            return ControlResponse(ok: false, message: "\(error)")
        }
        guard let line = ControlSocket.readLine(fd, timeout: 2),
              let request = try? ControlResponse.decoder.decode(ControlRequest.self, from: line) else {
            return ControlResponse(ok: false, message: "bad request")
        }
        let pid = getpid()
        if request.command == "status" {
            return ControlResponse(ok: true, supervisorPid: pid, services: statuses())
        }
        guard ["start", "stop", "restart"].contains(request.command) else {
            return ControlResponse(ok: false, message: "unknown command '\(request.command)'")
        }
        guard let name = request.service, let s = services.first(where: { $0.config.name == name }) else {
            return ControlResponse(ok: false, message: "no service named '\(request.service ?? "")' (known: \(services.map(\.config.name).joined(separator: ", ")))")
        }
        if shuttingDown { return ControlResponse(ok: false, message: "the supervisor is shutting down") }
        switch request.command {
        case "start":
            guard s.pid == nil else { return ControlResponse(ok: false, message: "\(name) is already running (pid \(s.pid!))") }
            log.sysmgr(5, "START", "\(name): start requested")
            s.spawns = []
            start(s, respawn: false)
        case "stop":
            guard s.pid != nil || s.nextStart != nil || s.state != "stopped" else {
                return ControlResponse(ok: true, message: "\(name) is already stopped", supervisorPid: pid, services: statuses())
            }
            log.sysmgr(5, "STOP", "\(name): stop requested")
            stop(s, restart: false)
        default:
            log.sysmgr(5, "RESTART", "\(name): restart requested")
            stop(s, restart: true)
        }
        persist()
        return ControlResponse(ok: true, message: "\(request.command) \(name): done", supervisorPid: pid,
                               services: statuses())
    }
}
