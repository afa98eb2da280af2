import Foundation

/// The router's dump rotation: each service keeps its first core
/// (`first.` prefix) and its latest one (`last.` prefix); the ones between are
/// kept up to `keep` per service, and the oldest of those go first whenever
/// the directory holds more than `maxBytes`. First and last cores are never
/// removed by the cap (they are what a support case asks for); when they
/// alone exceed it the plan says so and the dumper logs it.
///
/// A dump is a unit of files sharing a stem: `snmpd_12.by.drip.host.20250101-120000.core.zst`
/// and `snmpd_12.by.drip.host.20250101-120000.txt` are one dump. Pure: the plan
/// is computed from a listing and applied by `DumpDirectory`.
public enum DumpRotation {
    public enum Role: String, Sendable, Equatable { case first, last, middle }

    /// One dump (all its files) as found in the directory.
    public struct Dump: Sendable, Equatable {
        /// File names (no directory), as they are now.
        public var files: [String]
        public var role: Role
        /// The name without `first.`/`last.` and without the file suffixes.
        public var stem: String
        /// Whose dump it is: the stem before `.by.` (`snmpd_12`).
        public var owner: String
        public var bytes: UInt64
        /// Oldest first ordering key (modification time of its newest file).
        public var time: Date
    }

    public enum Action: Sendable, Equatable {
        case rename(from: String, to: String)
        case delete(String)
    }

    public struct Plan: Sendable, Equatable {
        public var actions: [Action] = []
        /// Bytes the directory will hold after the plan.
        public var bytesAfter: UInt64 = 0
        /// True when first/last dumps alone exceed the cap.
        public var overCap = false
        /// What the new dump's core is called after the plan.
        public var newNames: [String] = []
    }

    static let suffixes = [".zst", ".gz", ".xz", ".Z", ".core", ".txt", ".cpu_info"]

    /// Splits a file name into role and stem; nil for files that are not dumps (dumper.log, ...).
    public static func parse(_ name: String) -> (role: Role, stem: String, owner: String)? {
        var rest = Substring(name)
        var role = Role.middle
        if rest.hasPrefix("first.") { role = .first; rest = rest.dropFirst(6) } else if rest.hasPrefix("last.") {
            role = .last; rest = rest.dropFirst(5)
        }
        var stripped = true
        var sawSuffix = false
        while stripped {
            stripped = false
            for s in suffixes where rest.hasSuffix(s) && rest.count > s.count {
                rest = rest.dropLast(s.count); stripped = true; sawSuffix = true
            }
        }
        guard sawSuffix, let by = rest.range(of: ".by.") else { return nil }
        let owner = String(rest[..<by.lowerBound])
        guard !owner.isEmpty else { return nil }
        return (role, String(rest), owner)
    }

    /// Groups directory entries (name, size, mtime) into dumps.
    public static func dumps(_ entries: [(name: String, bytes: UInt64, time: Date)]) -> [Dump] {
        var byKey: [String: Dump] = [:]
        for e in entries {
            guard let p = parse(e.name) else { continue }
            let key = p.role.rawValue + "/" + p.stem
            if var d = byKey[key] {
                d.files.append(e.name); d.bytes += e.bytes; d.time = max(d.time, e.time)
                byKey[key] = d
            } else {
                byKey[key] = Dump(files: [e.name], role: p.role, stem: p.stem, owner: p.owner, bytes: e.bytes, time: e.time)
            }
        }
        return byKey.values.sorted { ($0.time, $0.stem) < ($1.time, $1.stem) }
    }

    /// What to do after `new` (the files just written, unprefixed) joined `existing`.
    public static func plan(existing: [Dump], new: Dump, keep: Int, maxBytes: UInt64) -> Plan {
        var plan = Plan()
        var dumps = existing.filter { $0.stem != new.stem }
        var newDump = new
        let mine = dumps.filter { $0.owner == new.owner }
        func prefixed(_ d: Dump, _ role: Role) -> Dump {
            var out = d
            out.files = d.files.map { name in
                let bare = name.hasPrefix("first.") ? String(name.dropFirst(6)) : name.hasPrefix("last.") ? String(name.dropFirst(5)) : name
                return role == .middle ? bare : role.rawValue + "." + bare
            }
            out.role = role
            return out
        }
        func move(_ from: Dump, _ to: Dump) {
            for (a, b) in zip(from.files, to.files) where a != b { plan.actions.append(.rename(from: a, to: b)) }
        }
        if !mine.contains(where: { $0.role == .first }) {
            let renamed = prefixed(newDump, .first)
            move(newDump, renamed)
            newDump = renamed
        } else {
            // The previous last becomes a middle one; the new dump is the last.
            for (i, d) in dumps.enumerated() where d.owner == new.owner && d.role == .last {
                let demoted = prefixed(d, .middle)
                move(d, demoted)
                dumps[i] = demoted
            }
            let renamed = prefixed(newDump, .last)
            move(newDump, renamed)
            newDump = renamed
        }
        plan.newNames = newDump.files
        dumps.append(newDump)

        // Per-service cap on middle dumps, oldest first.
        var removed = Set<String>()
        let middles = dumps.filter { $0.owner == new.owner && $0.role == .middle }.sorted { ($0.time, $0.stem) < ($1.time, $1.stem) }
        if middles.count > keep {
            for d in middles.prefix(middles.count - keep) { removed.insert(d.role.rawValue + "/" + d.stem) }
        }
        // Directory-wide byte cap: oldest middle dumps of any service first.
        var total = dumps.filter { !removed.contains($0.role.rawValue + "/" + $0.stem) }.reduce(UInt64(0)) { $0 + $1.bytes }
        if total > maxBytes {
            let candidates = dumps.filter { $0.role == .middle && !removed.contains("middle/" + $0.stem) }
                .sorted { ($0.time, $0.stem) < ($1.time, $1.stem) }
            for d in candidates where total > maxBytes {
                removed.insert("middle/" + d.stem)
                total -= d.bytes
            }
        }
        plan.overCap = total > maxBytes
        plan.bytesAfter = total
        for d in dumps where removed.contains(d.role.rawValue + "/" + d.stem) {
            plan.actions += d.files.map { .delete($0) }
        }
        return plan
    }
}
