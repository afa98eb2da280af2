import DripModel

public enum Libraries {
    /// The DLLs among classified regions, in load order; the program itself is not one.
    public static func from(_ regions: [Region], _ classes: [MemoryClass]) -> [Library] {
        var order: [String] = []
        var libs: [String: Library] = [:]
        for (r, c) in zip(regions, classes) {
            switch c {
            case .dllText:
                var lib = libs[r.path] ?? Library(path: r.path, textStart: 0, textSize: 0, dataStart: 0, dataSize: 0)
                if libs[r.path] == nil { order.append(r.path) }
                if r.permissions.execute {
                    if lib.textSize == 0 { lib.textStart = r.start }
                    lib.textSize += r.size
                }
                libs[r.path] = lib
            case .dllData:
                // The .bss tail is anonymous: it belongs to the library mapped right below it.
                let owner = r.path.hasPrefix("/") ? r.path : lastLibrary(below: r, regions: regions, classes: classes)
                guard let owner, var lib = libs[owner] else { continue }
                if lib.dataSize == 0 { lib.dataStart = r.start }
                lib.dataSize += r.size
                libs[owner] = lib
            default: continue
            }
        }
        return order.compactMap { libs[$0] }
    }

    private static func lastLibrary(below region: Region, regions: [Region], classes: [MemoryClass]) -> String? {
        guard let i = regions.firstIndex(where: { $0.start == region.start }), i > 0 else { return nil }
        let below = regions[i - 1]
        return below.path.hasPrefix("/") ? below.path : nil
    }
}
