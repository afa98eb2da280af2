import CDripPtrace
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The frozen image's memory through /proc/PID/mem (the tracer may read it;
/// unlike process_vm_readv it also reads mappings without PROT_READ that the
/// process may make readable, as gdb does).
final class ProcMemory {
    let fd: Int32

    init(pid: Int32) throws {
        fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ESRCH { throw CoreDumpError.noSuchProcess(pid: pid) }
            throw CoreDumpError.permissionDenied(pid: pid, what: "reading /proc/\(pid)/mem")
        }
    }

    deinit { close(fd) }

    /// Bytes read at `address` (fewer at an unreadable page).
    func read(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(Int64(bitPattern: address + UInt64(done))))
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        return done
    }

    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { read(address, into: $0) }
        return n == count ? bytes : nil
    }
}

/// The compression pipeline, run beside the memory copy:
///
///     drip ──pipe──► zstd -1 ──pipe──► tee CORE ──pipe──► md5sum ──pipe──► drip
///
/// zstd compresses on its own core while drip reads memory; the md5 of the
/// compressed file is computed as it is written instead of re-reading it
/// afterwards (md5 runs at ~650 MB/s: a second pass over a 1 GiB core would
/// cost more than the dump itself).
final class Compressor {
    private var pids: [pid_t] = []
    private var input: Int32 = -1
    private var digest: Int32 = -1
    private var statuses: [Int32] = []
    private(set) var written: UInt64 = 0
    let path: String

    /// `DRIP_ZSTD`, else `zstd` on PATH.
    static func locate(_ tool: String = "zstd", environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if tool == "zstd", let explicit = environment["DRIP_ZSTD"], !explicit.isEmpty { return explicit }
        let dirs = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) + ["/usr/bin", "/bin"]
        for dir in dirs where access(dir + "/" + tool, X_OK) == 0 { return dir + "/" + tool }
        return nil
    }

    /// Starts the pipeline writing `path` (which must exist: it was created to reserve the name).
    /// Without `checksum`, zstd writes the file itself and there is no md5
    /// stage: on an incompressible 1 GiB core the md5 is most of the CPU time.
    init(path: String, level: Int, threads: Int = 1, checksum: Bool = true) throws {
        self.path = path
        guard let zstd = Self.locate("zstd") else {
            throw CoreDumpError.compressor("zstd not found (install the zstd package, or set DRIP_ZSTD)")
        }
        if !checksum {
            var toZstd: [Int32] = [-1, -1]
            let rc = toZstd.withUnsafeMutableBufferPointer { drip_pipe($0.baseAddress) }
            if rc < 0 { throw CoreDumpError.compressor("pipe: \(String(cString: strerror(-rc)))") }
            let file = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            if file < 0 {
                let e = errno
                close(toZstd[0]); close(toZstd[1])
                throw CoreDumpError.output(path: path, errno: e)
            }
            defer { close(toZstd[0]); close(file) }
            input = toZstd[1]
            var child: pid_t = 0
            let spawned = Self.withCStrings([zstd, "-q", "-c", "-\(level)", "-T\(threads)"]) {
                drip_spawn($0, toZstd[0], file, &child)
            }
            if spawned < 0 {
                close(input); input = -1
                throw CoreDumpError.compressor("cannot start \(zstd): \(String(cString: strerror(-spawned)))")
            }
            pids.append(child)
            return
        }
        guard let tee = Self.locate("tee"), let md5sum = Self.locate("md5sum") else {
            throw CoreDumpError.compressor("tee or md5sum (coreutils) not found")
        }
        var toZstd: [Int32] = [-1, -1], toTee: [Int32] = [-1, -1], toMd5: [Int32] = [-1, -1], back: [Int32] = [-1, -1]
        for i in 0..<4 {
            let rc: Int32
            switch i {
            case 0: rc = toZstd.withUnsafeMutableBufferPointer { drip_pipe($0.baseAddress) }
            case 1: rc = toTee.withUnsafeMutableBufferPointer { drip_pipe($0.baseAddress) }
            case 2: rc = toMd5.withUnsafeMutableBufferPointer { drip_pipe($0.baseAddress) }
            default: rc = back.withUnsafeMutableBufferPointer { drip_pipe($0.baseAddress) }
            }
            if rc < 0 { throw CoreDumpError.compressor("pipe: \(String(cString: strerror(-rc)))") }
        }
        defer { for fd in [toZstd[0], toTee[0], toTee[1], toMd5[0], toMd5[1], back[1]] { close(fd) } }
        input = toZstd[1]
        digest = back[0]
        let stages: [([String], Int32, Int32)] = [
            ([zstd, "-q", "-c", "-\(level)", "-T\(threads)"], toZstd[0], toTee[1]),
            ([tee, path], toTee[0], toMd5[1]),
            ([md5sum], toMd5[0], back[1]),
        ]
        for (argv, stdin, stdout) in stages {
            var child: pid_t = 0
            let rc = Self.withCStrings(argv) { drip_spawn($0, stdin, stdout, &child) }
            if rc < 0 {
                abort()
                throw CoreDumpError.compressor("cannot start \(argv[0]): \(String(cString: strerror(-rc)))")
            }
            pids.append(child)
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(input, buffer.baseAddress! + done, buffer.count - done)
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            // EPIPE: a stage died, almost always because writing the file failed.
            abort()
            throw CoreDumpError.output(path: path, errno: Self.writeErrno(statuses))
        }
        written += UInt64(buffer.count)
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Closes the input, waits for every stage; returns the md5 of the file
    /// ("" when the pipeline computes none).
    func finish() throws -> String {
        close(input)
        input = -1
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 256)
        while digest >= 0 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(digest, $0.baseAddress, $0.count) }
            if n > 0 { output += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        reap()
        if statuses.contains(where: { $0 != 0 }) {
            throw CoreDumpError.output(path: path, errno: Self.writeErrno(statuses))
        }
        let hex = String(decoding: output, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        return hex.count == 32 ? hex : ""
    }

    /// Stops the pipeline; idempotent.
    func abort() {
        if input >= 0 { close(input); input = -1 }
        reap()
    }

    private func reap() {
        if digest >= 0 { close(digest); digest = -1 }
        for pid in pids {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            statuses.append(status)
        }
        pids = []
    }

    deinit { abort() }

    /// The stages say only "exited 1"; a file-size limit kills tee with SIGXFSZ. ENOSPC is the usual cause.
    static func writeErrno(_ statuses: [Int32]) -> Int32 {
        statuses.contains { ($0 & 0x7F) == SIGXFSZ } ? EFBIG : ENOSPC
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

enum DumpFiles {
    /// Creates the directory (and parents) when missing.
    static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { throw CoreDumpError.output(path: path, errno: ENOTDIR) }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                let e = errno
                throw CoreDumpError.output(path: path, errno: e == 0 ? EACCES : e)
            }
        }
        if access(path, W_OK) != 0 { throw CoreDumpError.output(path: path, errno: errno) }
    }

    /// Opens a new file; never overwrites one.
    static func create(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        if fd < 0 { throw CoreDumpError.output(path: path, errno: errno) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        try bytes.withUnsafeBytes { buf in
            while done < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
                if n > 0 { done += n; continue }
                if n < 0 && errno == EINTR { continue }
                throw CoreDumpError.output(path: path, errno: n < 0 ? errno : ENOSPC)
            }
        }
    }

    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    static func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
