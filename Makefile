# drip's build: SwiftPM builds the CLI and fixtures; the C compiler builds the
# agent (see Package.swift for why SwiftPM must not link it).
CONFIG ?= debug
SWIFT_FLAGS ?=
BIN = $(shell swift build -c $(CONFIG) $(SWIFT_FLAGS) --show-bin-path 2>/dev/null)

.PHONY: all build agent test clean
all: build

include Sources/CDripAgent/agent.mk

build: agent
	swift build -c $(CONFIG) $(SWIFT_FLAGS)
	cp $(AGENT_SO) $(BIN)/libdrip-agent.so

test: agent agent-test
	swift build --build-tests $(SWIFT_FLAGS)
	cp $(AGENT_SO) $(BIN)/libdrip-agent.so
	swift test --skip-build --disable-swift-testing $(SWIFT_FLAGS)

clean:
	rm -rf .build
