import DripModel
import Foundation

/// The control protocol: one JSON line each way over the Unix socket.
public struct ControlRequest: Sendable, Codable, Equatable {
    /// `status`, `start`, `stop`, `restart`.
    public var command: String
    public var service: String?
    public init(command: String, service: String? = nil) { self.command = command; self.service = service }
}

public struct ControlResponse: Sendable, Codable, Equatable {
    public var ok: Bool
    public var message: String?
    public var supervisorPid: Int32?
    public var services: [ServiceStatus]?

    public init(ok: Bool, message: String? = nil, supervisorPid: Int32? = nil, services: [ServiceStatus]? = nil) {
        self.ok = ok; self.message = message; self.supervisorPid = supervisorPid; self.services = services
    }

    enum CodingKeys: String, CodingKey {
        case ok, message, services
        case supervisorPid = "supervisor_pid"
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
