import DripModel

/// `drip ps`: one row per process.
public enum PsView {
    public static func table(_ jobs: [Job], sizes: SizeStyle, detail: Bool) -> String {
        var columns: [Table.Column] = [.init("JID"), .init("PID"), .init("Text"), .init("Data"), .init("Stack"), .init("Dynamic")]
        if detail {
            columns += [.init("Dyn-Limit"), .init("Dyn-Phy"), .init("Shm-Tot"), .init("Phy-Tot"), .init("Virtual"), .init("Swap")]
        }
        columns.append(.init("Process", .left))
        var table = Table(columns)
        for job in jobs {
            let m = job.process.memory
            var row = [job.jid.description, String(job.process.pid), sizes.format(m.text), sizes.format(m.data),
                       sizes.format(m.stack), sizes.format(m.dynamic)]
            if detail {
                row += [job.process.dataLimit.map { sizes.format($0) } ?? "unlimited", sizes.format(m.dynamicResident),
                        sizes.format(m.shared), sizes.format(m.resident), sizes.format(m.virtualSize), sizes.format(m.swap)]
            }
            row.append(job.instanceNumber > 1 ? "\(job.process.name) #\(job.instanceNumber)" : job.process.name)
            table.append(row)
        }
        return table.render()
    }

    public static func json(_ jobs: [Job], detail: Bool) throws -> String {
        try JSONOutput.render(["processes": jobs.map { Row($0, detail: detail) }])
    }

    struct Row: Encodable {
        var jid: Int64
        var pid: Int32
        var name: String
        var instance: Int
        var text, data, stack, dynamic: UInt64
        var heap: HeapCounters?
        // Detail fields; absent without --detail. A null dyn_limit means unlimited.
        var dynLimit: UInt64??
        var dynPhy, shmTot, phyTot, virtual, swap, pss: UInt64?

        init(_ job: Job, detail: Bool) {
            let m = job.process.memory
            jid = job.jid.value; pid = job.process.pid; name = job.process.name; instance = job.instanceNumber
            text = m.text; data = m.data; stack = m.stack; dynamic = m.dynamic; heap = job.process.heap
            if detail {
                dynLimit = .some(job.process.dataLimit)
                dynPhy = m.dynamicResident; shmTot = m.shared; phyTot = m.resident; virtual = m.virtualSize
                swap = m.swap; pss = m.proportional
            }
        }

        enum CodingKeys: String, CodingKey {
            case jid, pid, name, instance, text, data, stack, dynamic, heap
            case dynLimit = "dyn_limit", dynPhy = "dyn_phy", shmTot = "shm_tot", phyTot = "phy_tot", virtual, swap, pss
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(jid, forKey: .jid); try c.encode(pid, forKey: .pid); try c.encode(name, forKey: .name)
            try c.encode(instance, forKey: .instance)
            try c.encode(text, forKey: .text); try c.encode(data, forKey: .data)
            try c.encode(stack, forKey: .stack); try c.encode(dynamic, forKey: .dynamic)
            try c.encodeIfPresent(heap, forKey: .heap)
            if let dynLimit { try c.encode(dynLimit, forKey: .dynLimit) }
            try c.encodeIfPresent(dynPhy, forKey: .dynPhy); try c.encodeIfPresent(shmTot, forKey: .shmTot)
            try c.encodeIfPresent(phyTot, forKey: .phyTot); try c.encodeIfPresent(virtual, forKey: .virtual)
            try c.encodeIfPresent(swap, forKey: .swap); try c.encodeIfPresent(pss, forKey: .pss)
        }
    }
}
