#!/usr/bin/env bash
# `drip heap` on a process holding 1M live blocks: wall time of the whole
# command (read the agent's tables with process_vm_readv, symbolize, group)
# while the process keeps running. Goal (issue 3): <= 1 s including symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
make -s CONFIG=release build >/dev/null
DRIP=$(swift build -c release --show-bin-path)/drip
AGENT=$(swift build -c release --show-bin-path)/libdrip-agent.so
out=$(mktemp -d)
export DRIP_STATE_DIR=$out/state
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
cc -O2 -g -o "$out/heap-read" bench/heap-read.c
LD_PRELOAD=$AGENT "$out/heap-read" > "$out/ready" &
pid=$!
until grep -q ready "$out/ready" 2>/dev/null; do sleep 0.1; done

python3 - "$DRIP" "$pid" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
drip, pid, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, r.stdout
times = []
for _ in range(runs):
    t, out = timed([drip, "heap", f"pid:{pid}"])
    times.append(t)
print(out.split("\n\n")[0])
print("\n".join(out.splitlines()[-6:]))
t_blocks, _ = timed([drip, "heap", f"pid:{pid}", "--blocks", "--limit", "0", "--json"])
print(f"drip heap (1M live blocks):   median {statistics.median(times):.3f} s over {runs} runs (goal <= 1 s)")
print(f"drip heap --blocks --limit 0 --json: {t_blocks:.3f} s")
PY
