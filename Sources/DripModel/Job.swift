/// A live process together with its place in the JID registry.
public struct Job: Sendable, Codable {
    public var jid: Jid
    /// 1 for the first running copy of the service, 2 for a second one running at the same time, ...
    public var instanceNumber: Int
    public var process: ProcessRecord

    public init(jid: Jid, instanceNumber: Int, process: ProcessRecord) {
        self.jid = jid; self.instanceNumber = instanceNumber; self.process = process
    }
}
