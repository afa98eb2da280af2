import DripModel

/// `drip map X`: the address map; `drip dll X`: the shared objects.
public enum MapView {
    public static func table(_ regions: [Region], _ classes: [MemoryClass], sizes: SizeStyle) -> String {
        var table = Table([.init("Address"), .init("Bytes"), .init("Resident"), .init("Perm", .left), .init("What", .left)])
        for (r, c) in zip(regions, classes) {
            table.append([hex(r.start), sizes.format(r.size), sizes.format(r.usage?.rss), r.permissions.text, what(r, c)])
        }
        let t = totals(regions, classes)
        return table.render() + "\n" + [
            ("Total Allocated Memory", t.allocated, t.allocatedResident),
            ("Total Shared Memory", t.shared, t.sharedResident),
        ].map { "\($0.0): \(sizes.format($0.1)) (resident \(sizes.format($0.2)))" }.joined(separator: "\n") + "\n"
    }

    public static func json(_ regions: [Region], _ classes: [MemoryClass]) throws -> String {
        struct Row: Encodable {
            var address: String, end: String, bytes: UInt64, resident: UInt64?, perm: String, what: String, path: String
        }
        struct Out: Encodable {
            var regions: [Row]
            var totalAllocatedMemory: UInt64, totalSharedMemory: UInt64
            enum CodingKeys: String, CodingKey {
                case regions, totalAllocatedMemory = "total_allocated_memory", totalSharedMemory = "total_shared_memory"
            }
        }
        let t = totals(regions, classes)
        return try JSONOutput.render(Out(regions: zip(regions, classes).map { r, c in
            Row(address: hex(r.start), end: hex(r.end), bytes: r.size, resident: r.usage?.rss, perm: r.permissions.text,
                what: c.rawValue, path: r.path)
        }, totalAllocatedMemory: t.allocated, totalSharedMemory: t.shared))
    }

    public static func dllTable(_ libraries: [Library], sizes: SizeStyle) -> String {
        var table = Table([.init("Text Addr"), .init("Text Size"), .init("Data Addr"), .init("Data Size"),
                           .init("Build-Id", .left), .init("Path", .left)])
        for l in libraries {
            table.append([hex(l.textStart), sizes.format(l.textSize), l.dataSize == 0 ? "-" : hex(l.dataStart),
                          sizes.format(l.dataSize), l.buildID ?? "-", l.path])
        }
        return table.render()
    }

    public static func dllJSON(_ libraries: [Library]) throws -> String {
        struct Row: Encodable {
            var path: String, textStart: String, textSize: UInt64, dataStart: String?, dataSize: UInt64, buildId: String?
            enum CodingKeys: String, CodingKey {
                case path, textStart = "text_start", textSize = "text_size", dataStart = "data_start"
                case dataSize = "data_size", buildId = "build_id"
            }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(path, forKey: .path); try c.encode(textStart, forKey: .textStart)
                try c.encode(textSize, forKey: .textSize); try c.encode(dataStart, forKey: .dataStart)
                try c.encode(dataSize, forKey: .dataSize); try c.encode(buildId, forKey: .buildId)
            }
        }
        return try JSONOutput.render(["libraries": libraries.map {
            Row(path: $0.path, textStart: hex($0.textStart), textSize: $0.textSize,
                dataStart: $0.dataSize == 0 ? nil : hex($0.dataStart), dataSize: $0.dataSize, buildId: $0.buildID)
        }])
    }

    static func what(_ r: Region, _ c: MemoryClass) -> String {
        switch c {
        case .programText, .programData, .dllText, .dllData, .mappedFile: return "\(c.rawValue) \(r.path)"
        default: return r.path.isEmpty ? c.rawValue : "\(c.rawValue) \(r.path)"
        }
    }

    static func totals(_ regions: [Region], _ classes: [MemoryClass])
        -> (allocated: UInt64, allocatedResident: UInt64, shared: UInt64, sharedResident: UInt64) {
        var t: (allocated: UInt64, allocatedResident: UInt64, shared: UInt64, sharedResident: UInt64) = (0, 0, 0, 0)
        for (r, c) in zip(regions, classes) {
            if c == .allocated { t.allocated += r.size; t.allocatedResident += r.usage?.rss ?? 0 }
            if c == .shared { t.shared += r.size; t.sharedResident += r.usage?.rss ?? 0 }
        }
        return t
    }

    public static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
}
