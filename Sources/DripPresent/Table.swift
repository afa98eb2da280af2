/// A plain-text table: a header, a dashed rule, rows. Numbers align right.
public struct Table: Sendable {
    public enum Alignment: Sendable { case left, right }
    public struct Column: Sendable {
        public var title: String
        public var alignment: Alignment
        public init(_ title: String, _ alignment: Alignment = .right) { self.title = title; self.alignment = alignment }
    }

    public var columns: [Column]
    public var rows: [[String]] = []

    public init(_ columns: [Column]) { self.columns = columns }

    public mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "row has \(row.count) cells for \(columns.count) columns")
        rows.append(row)
    }

    public func render() -> String {
        var widths = columns.map { $0.title.count }
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let last = i == cells.count - 1
                let text = columns[i].alignment == .right ? pad + cell : (last ? cell : cell + pad)
                out += (i == 0 ? "" : "  ") + text
            }
            return out
        }
        var lines = [line(columns.map(\.title)), line(columns.map { String(repeating: "-", count: $0.title.count) })]
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }
}
