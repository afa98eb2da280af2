import DripModel
import Foundation
import GRDB

/// drip's durable state: the JID registry and snapshots, in one SQLite file.
/// Every change is one transaction, so a crash or a full disk never leaves
/// half a snapshot behind.
public final class StateStore: Sendable {
    public let path: String
    let queue: DatabaseQueue

    /// `$DRIP_STATE_DIR`, else /var/lib/drip for root, else the XDG state dir.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment,
                                        isRoot: Bool = getuid() == 0) -> String {
        if let dir = environment["DRIP_STATE_DIR"], !dir.isEmpty { return dir }
        if isRoot { return "/var/lib/drip" }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/drip" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state/drip"
    }

    public static let fileName = "state.sqlite"

    /// Where cores go when nobody says: `$DRIP_DUMP_DIR`, else `<state dir>/dumps`
    /// (`drip core`, and `drip supervise` without `dump_dir`).
    public static func defaultDumpDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["DRIP_DUMP_DIR"], !dir.isEmpty { return dir }
        return defaultDirectory(environment: environment) + "/dumps"
    }

    public init(directory: String) throws {
        try Self.makeDirectory(directory)
        if access(directory, W_OK) != 0 {
            throw StoreError.unwritableDirectory(path: directory, reason: String(cString: strerror(errno)))
        }
        path = directory + "/" + Self.fileName
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.journalMode = .wal
        // WAL with synchronous=NORMAL: a commit is atomic and the file never
        // corrupt; a power cut may lose the last commit, which drip redoes.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let migrator = Self.migrator
            // Checking first keeps the common run free of a write transaction.
            if try !queue.read({ try migrator.hasCompletedMigrations($0) }) {
                try migrator.migrate(queue)
            }
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            throw StoreError.corrupt(path: path, reason: error.message ?? "\(error.resultCode)")
        } catch let error as DatabaseError where [.SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM].contains(error.resultCode) {
            throw StoreError.unwritableDirectory(path: directory, reason: error.message ?? "\(error.resultCode)")
        } catch {
            throw StoreError.failed(path: path, reason: Self.reason(error))
        }
    }

    /// mkdir -p without Foundation's FileManager, whose first use reads the user database.
    static func makeDirectory(_ directory: String) throws {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw StoreError.unwritableDirectory(path: directory, reason: "\(path): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw StoreError.unwritableDirectory(path: directory, reason: "not a directory")
        }
    }

    /// Runs a write transaction, turning GRDB's errors into one-line StoreErrors.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.write(body) } catch { throw mapped(error) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch { throw mapped(error) }
    }

    func mapped(_ error: Error) -> Error {
        if error is StoreError { return error }
        if let db = error as? DatabaseError {
            if [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(db.resultCode) {
                return StoreError.corrupt(path: path, reason: db.message ?? "\(db.resultCode)")
            }
            return StoreError.failed(path: path, reason: db.message ?? "\(db.resultCode)")
        }
        return error
    }

    static func reason(_ error: Error) -> String {
        if let db = error as? DatabaseError { return db.message ?? "\(db.resultCode)" }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            // A service is a (key, instance #) pair; its rowid is the JID.
            try db.execute(sql: """
                CREATE TABLE service (
                    jid INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL,
                    instance INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    -- When its last process was seen to end; services gone for
                    -- StateStore.serviceRetention are forgotten.
                    last_seen REAL,
                    UNIQUE(key, instance));
                CREATE TABLE live_process (
                    boot_id TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    start_ticks INTEGER NOT NULL,
                    jid INTEGER NOT NULL REFERENCES service(jid),
                    first_seen REAL NOT NULL,
                    -- The ProcessDescription, so later runs need not read cmdline, exe and cgroup again.
                    name TEXT NOT NULL,
                    executable TEXT,
                    command_line BLOB NOT NULL, -- arguments joined by NUL bytes
                    cgroup TEXT,
                    uid INTEGER NOT NULL,
                    job_name TEXT,
                    -- The last usage drip measured, valid while the fingerprint matches (docs/COLUMNS.md).
                    fp_size INTEGER, fp_text INTEGER, fp_data INTEGER, fp_threads INTEGER,
                    m_text INTEGER, m_data INTEGER, m_stack INTEGER, m_dynamic INTEGER, m_shared INTEGER,
                    m_virtual INTEGER, m_agent INTEGER,
                    PRIMARY KEY (boot_id, pid, start_ticks));
                CREATE TABLE compare_snapshot (
                    name TEXT PRIMARY KEY,
                    taken_at REAL NOT NULL,
                    boot_id TEXT NOT NULL,
                    host TEXT NOT NULL);
                CREATE TABLE compare_row (
                    snapshot TEXT NOT NULL REFERENCES compare_snapshot(name) ON DELETE CASCADE,
                    jid INTEGER NOT NULL,
                    pid INTEGER NOT NULL,
                    start_ticks INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    dynamic INTEGER NOT NULL,
                    mallocs INTEGER,
                    PRIMARY KEY (snapshot, jid));
                """)
        }
        m.registerMigration("v2-heap-snapshots") { db in
            try db.execute(sql: """
                CREATE TABLE heap_snapshot (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    jid INTEGER NOT NULL,
                    pid INTEGER NOT NULL,
                    taken_at REAL NOT NULL,
                    body BLOB NOT NULL);
                CREATE INDEX heap_snapshot_jid ON heap_snapshot(jid, id);
                """)
        }
        m.registerMigration("v3-supervisor") { db in
            // One row per service `drip supervise` runs, rewritten on every change (docs/SUPERVISOR.md).
            try db.execute(sql: """
                CREATE TABLE supervised_service (
                    name TEXT PRIMARY KEY,
                    jid INTEGER,
                    pid INTEGER,
                    start_ticks INTEGER,
                    state TEXT NOT NULL,
                    respawn INTEGER NOT NULL,
                    respawn_count INTEGER NOT NULL,
                    max_spawns_per_minute INTEGER NOT NULL,
                    last_started REAL,
                    last_exit TEXT,
                    memory_limit INTEGER,
                    limit_kind TEXT,
                    supervisor_pid INTEGER NOT NULL,
                    updated_at REAL NOT NULL);
                CREATE INDEX supervised_service_jid ON supervised_service(jid);
                """)
        }
        return m
    }
}
