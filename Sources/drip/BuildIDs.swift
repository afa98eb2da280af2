/// Build-ids of mapped files. Filled in once the ELF reader lands.
enum BuildIDs {
    static func read(_ path: String, pid: Int32) -> String? { nil }
}
