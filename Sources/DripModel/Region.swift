/// One line of /proc/PID/maps, plus the smaps numbers when they were read.
public struct Region: Sendable, Equatable, Codable {
    public struct Permissions: Sendable, Equatable, Codable {
        public var read: Bool
        public var write: Bool
        public var execute: Bool
        /// `s` in maps: the pages are shared with other mappers of the object.
        public var shared: Bool

        public init(read: Bool, write: Bool, execute: Bool, shared: Bool) {
            self.read = read; self.write = write; self.execute = execute; self.shared = shared
        }

        /// True for `---p` reservations: address space only, no memory behind it.
        public var isReservation: Bool { !read && !write && !execute }

        public var text: String {
            (read ? "r" : "-") + (write ? "w" : "-") + (execute ? "x" : "-") + (shared ? "s" : "p")
        }
    }

    public var start: UInt64
    public var end: UInt64
    public var permissions: Permissions
    public var offset: UInt64
    public var inode: UInt64
    /// The path or pseudo-name (`[heap]`, `[stack]`, `[anon:x]`); empty for anonymous memory.
    public var path: String
    /// From smaps, when read: resident, private and swapped bytes of this mapping.
    public var usage: Usage?

    public struct Usage: Sendable, Equatable, Codable {
        public var rss: UInt64
        public var pss: UInt64
        public var privateDirty: UInt64
        public var privateClean: UInt64
        public var sharedDirty: UInt64
        public var sharedClean: UInt64
        public var anonymous: UInt64
        public var swap: UInt64
        /// The VmFlags field, e.g. `["rd", "wr", "mr", "dd"]`.
        public var flags: [String]

        public init(rss: UInt64 = 0, pss: UInt64 = 0, privateDirty: UInt64 = 0, privateClean: UInt64 = 0,
                    sharedDirty: UInt64 = 0, sharedClean: UInt64 = 0, anonymous: UInt64 = 0, swap: UInt64 = 0,
                    flags: [String] = []) {
            self.rss = rss; self.pss = pss; self.privateDirty = privateDirty; self.privateClean = privateClean
            self.sharedDirty = sharedDirty; self.sharedClean = sharedClean; self.anonymous = anonymous
            self.swap = swap; self.flags = flags
        }
    }

    public init(start: UInt64, end: UInt64, permissions: Permissions, offset: UInt64, inode: UInt64,
                path: String, usage: Usage? = nil) {
        self.start = start; self.end = end; self.permissions = permissions; self.offset = offset
        self.inode = inode; self.path = path; self.usage = usage
    }

    public var size: UInt64 { end - start }
    /// Backed by a file on disk (not anonymous, not a kernel pseudo-name, not a deleted/shm object).
    public var isFileBacked: Bool { inode != 0 && path.hasPrefix("/") }
    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }
}
