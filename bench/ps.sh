#!/usr/bin/env bash
# drip ps versus ps aux on the same machine, same moment: starts 1,000 idle
# processes, times both commands alternately and prints the ratio of medians.
# Goal (issue 2): ratio <= 1.0. Also prints `drip ps --rescan` (every maps
# file read, no reuse of unchanged processes' totals) for reference.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
RUNS=${RUNS:-15}

swift build -c release --product drip >/dev/null
DRIP=$(swift build -c release --show-bin-path)/drip
export DRIP_STATE_DIR=$(mktemp -d)

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$DRIP_STATE_DIR"; }
trap cleanup EXIT
for _ in $(seq "$N"); do sleep 100000 & pids+=($!); done
sleep 1

python3 - "$DRIP" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
drip, runs = sys.argv[1], int(sys.argv[2])
cmds = {"drip ps": [drip, "ps"], "drip ps --rescan": [drip, "ps", "--rescan"], "ps aux": ["ps", "aux"]}
for c in cmds.values():  # warm caches; drip registers the new JIDs once
    subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
times = {k: [] for k in cmds}
for _ in range(runs):
    for name, c in cmds.items():
        t = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[name].append(time.perf_counter() - t)
procs = len(subprocess.run(["ps", "-e", "--no-headers"], capture_output=True, text=True).stdout.splitlines())
med = {k: statistics.median(v) for k, v in times.items()}
print(f"processes on the machine: {procs}, runs: {runs} each, alternating")
for k, v in med.items():
    print(f"{k:17s} median {v*1000:8.1f} ms  (min {min(times[k])*1000:.1f} ms)")
print(f"ratio drip ps / ps aux: {med['drip ps'] / med['ps aux']:.2f}  (goal <= 1.0)")
print(f"ratio drip ps --rescan / ps aux: {med['drip ps --rescan'] / med['ps aux']:.2f}  (every maps file read)")
PY
