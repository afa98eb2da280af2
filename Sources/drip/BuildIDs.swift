import DripSymbols

/// Build-ids of mapped files, from their ELF notes.
enum BuildIDs {
    static func read(_ path: String, pid: Int32) -> String? {
        // A deleted or replaced file is still readable through the process's map_files.
        (try? ELFFile(contentsOf: path, includeSymbols: false))?.buildID
    }
}
