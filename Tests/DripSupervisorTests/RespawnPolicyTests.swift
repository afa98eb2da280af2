@testable import DripSupervisor
import Foundation
import XCTest

final class RespawnPolicyTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    func testRespawnsUntilTheLimitThenHoldsDown() {
        let policy = RespawnPolicy(respawn: true, maxSpawnsPerMinute: 3, delay: 0.5)
        XCTAssertEqual(policy.decide(spawns: [t0], now: t0 + 1), .respawn(at: t0 + 1.5))
        XCTAssertEqual(policy.decide(spawns: [t0, t0 + 1], now: t0 + 2), .respawn(at: t0 + 2.5))
        XCTAssertEqual(policy.decide(spawns: [t0, t0 + 1, t0 + 2], now: t0 + 3), .holdDown(until: nil))
    }

    func testOldSpawnsFallOutOfTheWindow() {
        let policy = RespawnPolicy(respawn: true, maxSpawnsPerMinute: 3)
        // Three spawns, but the first is more than 60 s old.
        XCTAssertEqual(policy.decide(spawns: [t0, t0 + 30, t0 + 59], now: t0 + 60), .respawn(at: t0 + 60))
        XCTAssertEqual(policy.decide(spawns: [t0, t0 + 30, t0 + 59], now: t0 + 59.5), .holdDown(until: nil))
        XCTAssertEqual(RespawnPolicy.prune([t0, t0 + 30], now: t0 + 61), [t0 + 30])
    }

    func testHoldDownWithATimeout() {
        let policy = RespawnPolicy(respawn: true, maxSpawnsPerMinute: 1, holdDown: 300)
        XCTAssertEqual(policy.decide(spawns: [t0], now: t0 + 1), .holdDown(until: t0 + 301))
    }

    func testRespawnOffStaysDown() {
        let policy = RespawnPolicy(respawn: false, maxSpawnsPerMinute: 12)
        XCTAssertEqual(policy.decide(spawns: [t0], now: t0 + 1), .stayDown)
    }

    func testExitReasons() {
        XCTAssertTrue(ExitReason.signaled(signal: 31, core: false).isCrash)
        XCTAssertTrue(ExitReason.signaled(signal: 11, core: true).isCrash)
        XCTAssertFalse(ExitReason.signaled(signal: 15, core: false).isCrash)
        XCTAssertFalse(ExitReason.exited(code: 1).isCrash)
        XCTAssertEqual(ExitReason.signaled(signal: 31, core: false).description, "signal 31 (SIGSYS)")
    }
}
