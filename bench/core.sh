#!/usr/bin/env bash
# drip core vs gcore on the same process: fixture-threads with 4 threads and
# 1 GiB of touched, incompressible heap. Prints each tool's pause (how long
# the target was stopped; gcore stops it for its whole run) and total time,
# and the ratios drip/gcore.
#
#   bench/core.sh [MiB] [runs]        (defaults: 1024 MiB, 3 runs)
#
# Builds release binaries in .build-core (its own scratch path).
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
RUNS=${2:-3}
command -v gcore >/dev/null || { echo "gcore (gdb) is needed" >&2; exit 1; }
command -v zstd >/dev/null || { echo "zstd is needed" >&2; exit 1; }

SCRATCH=${SCRATCH:-.build-core}
swift build -c release --scratch-path "$SCRATCH" --product drip >/dev/null
swift build -c release --scratch-path "$SCRATCH" --product fixture-threads >/dev/null
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)

WORK=$(mktemp -d /tmp/drip-core-bench.XXXXXX)
export DRIP_STATE_DIR=$WORK/state DRIP_DUMP_DIR=$WORK/dumps
fifo=$WORK/stdin; mkfifo "$fifo"
# The fixture exits at EOF on stdin: hold the fifo open until we are done.
exec 7<>"$fifo"
"$BIN/fixture-threads" --threads 4 --heap "$MIB" --quiet <"$fifo" >"$WORK/fixture.out" &
FIX=$!
cleanup() { kill "$FIX" 2>/dev/null || true; wait "$FIX" 2>/dev/null || true; exec 7>&-; rm -rf "$WORK"; }
trap cleanup EXIT
until grep -q '^ready' "$WORK/fixture.out" 2>/dev/null; do sleep 0.2; done
echo "fixture pid $FIX: $(grep VmRSS /proc/$FIX/status | tr -s ' \t' ' '), 4 threads; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

now() { date +%s.%N; }
printf '%-6s %4s %10s %10s %12s %12s\n' tool run pause_ms total_ms core_bytes file_bytes
for run in $(seq 1 "$RUNS"); do
  rm -rf "$DRIP_DUMP_DIR"
  json=$("$BIN/drip" core "pid:$FIX" --json)
  d_pause=$(sed -n 's/.*"pause_ms" : \([0-9.]*\).*/\1/p' <<<"$json")
  d_total=$(sed -n 's/.*"total_ms" : \([0-9.]*\).*/\1/p' <<<"$json")
  d_elf=$(sed -n 's/.*"core_bytes" : \([0-9]*\).*/\1/p' <<<"$json")
  d_file=$(sed -n 's/.*"bytes" : \([0-9]*\).*/\1/p' <<<"$json")
  printf '%-6s %4s %10.1f %10.1f %12s %12s\n' drip "$run" "$d_pause" "$d_total" "$d_elf" "$d_file"
  rm -rf "$DRIP_DUMP_DIR"
  m_json=$("$BIN/drip" core "pid:$FIX" --json --md5)
  m_pause=$(sed -n 's/.*"pause_ms" : \([0-9.]*\).*/\1/p' <<<"$m_json")
  m_total=$(sed -n 's/.*"total_ms" : \([0-9.]*\).*/\1/p' <<<"$m_json")
  printf '%-6s %4s %10.1f %10.1f   (drip core --md5: also hashes the core as it is written)\n' drip5 "$run" "$m_pause" "$m_total"

  t0=$(now)
  gcore -o "$WORK/gcore" "$FIX" >/dev/null 2>&1
  t1=$(now)
  g_total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
  g_file=$(stat -c %s "$WORK/gcore.$FIX")
  rm -f "$WORK/gcore.$FIX"
  printf '%-6s %4s %10.1f %10.1f %12s %12s\n' gcore "$run" "$g_total" "$g_total" "$g_file" "$g_file"
  awk -v r="$run" -v dp="$d_pause" -v dt="$d_total" -v g="$g_total" \
    'BEGIN { printf "ratio  %4s %10.4f %10.3f   (drip/gcore: pause, total)\n", r, dp / g, dt / g }'
done
# The process must still be running and untraced.
grep -E '^(State|TracerPid)' /proc/$FIX/status | tr '\n' ' '; echo
