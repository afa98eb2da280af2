// swift-tools-version:6.1
import PackageDescription

// The agent (Sources/CDripAgent) is deliberately NOT a SwiftPM target: SwiftPM
// links dynamic products through swiftc, which would drag the Swift runtime into
// every preloaded process. The Makefile builds it with the C compiler.
let package = Package(
    name: "drip",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "drip", targets: ["drip"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .target(name: "DripModel"),
        .target(name: "DripProc", dependencies: ["DripModel"]),
        .target(name: "DripStore", dependencies: ["DripModel", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "DripPresent", dependencies: ["DripModel"]),
        .target(name: "DripSymbols", dependencies: ["DripModel"]),
        .target(name: "CDripAgentFormat"),
        .target(name: "DripHeap", dependencies: ["DripModel", "DripProc", "DripSymbols", "CDripAgentFormat"]),
        .target(name: "CDripPtrace"),
        .target(name: "DripCoreDump", dependencies: ["DripModel", "DripProc", "DripSymbols", "CDripPtrace"]),
        .target(name: "DripSupervisor", dependencies: [
            "DripModel", "DripProc", "DripStore", "DripCoreDump", "DripSymbols", "CDripPtrace",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .executableTarget(
            name: "drip",
            dependencies: [
                "DripModel", "DripProc", "DripStore", "DripPresent", "DripSymbols", "DripHeap", "DripCoreDump", "DripSupervisor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fixture programs the tests start. They live under Tests/Fixtures.
        .executableTarget(name: "fixture-memory", path: "Tests/Fixtures/memory",
                          cSettings: [.unsafeFlags(["-O0", "-pthread"])],
                          linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("dl")]),
        .executableTarget(name: "fixture-leaker-swift", path: "Tests/Fixtures/leaker-swift",
                          swiftSettings: [.unsafeFlags(["-g"])]),
        .executableTarget(name: "fixture-threads", path: "Tests/Fixtures/threads",
                          cSettings: [.unsafeFlags(["-g", "-O0", "-fno-omit-frame-pointer", "-pthread"])],
                          linkerSettings: [.linkedLibrary("pthread")]),
        .target(name: "DripTestSupport", path: "Tests/DripTestSupport"),
        .testTarget(name: "DripProcTests", dependencies: ["DripProc", "DripModel", "DripSymbols", "DripTestSupport", "fixture-memory"]),
        .testTarget(name: "DripStoreTests", dependencies: ["DripStore", "DripModel", "DripTestSupport"]),
        .testTarget(name: "DripPresentTests", dependencies: ["DripPresent", "DripModel"]),
        .testTarget(name: "DripSymbolsTests", dependencies: ["DripSymbols"]),
        .testTarget(name: "DripSupervisorTests", dependencies: ["DripSupervisor", "DripModel", "DripTestSupport", "drip"]),
        .testTarget(name: "DripCoreDumpTests", dependencies: ["DripCoreDump", "DripTestSupport", "fixture-threads"]),
        .testTarget(name: "DripCLITests", dependencies: ["drip", "DripTestSupport", "fixture-memory", "fixture-leaker-swift"]),
    ],
    swiftLanguageModes: [.v6]
)
