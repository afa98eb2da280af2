#!/bin/sh
# Side-by-side cost of the heap agent: no agent, exact mode, sampled mode
# and heaptrack on the same churn microbenchmark (2 threads x 2M
# malloc/free pairs of 16..272 bytes over a 1024-block working set each),
# median of REPS interleaved rounds, ratios against no agent; then agent memory per live
# block with 1M live blocks. Goals: exact <= 3.0x, sampled <= 1.15x,
# <= 32 bytes per live block.
#
#   bash bench/heap-agent.sh            (REPS=15 SAMPLE=524288 by default)
set -eu
cd "$(dirname "$0")/.."
REPS=${REPS:-15}
SAMPLE=${SAMPLE:-524288}
OUT=.build/agent/bench
mkdir -p "$OUT"
make -s -f Sources/CDripAgent/agent.mk agent >/dev/null
SO=$PWD/.build/agent/libdrip-agent.so
${CC:-cc} -O2 -g -pthread -ISources/CDripAgentFormat/include bench/heap-bench.c -o "$OUT/heap-bench" -ldl

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "heap agent bench: 2 threads x 2M malloc/free pairs, 16..272 B, median of $REPS interleaved rounds"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

# One round runs every variant once, so drift in the machine (other load,
# frequency) hits all of them alike; the medians are then compared.
: >"$OUT/none.times"
: >"$OUT/exact.times"
: >"$OUT/sampled.times"
i=0
while [ "$i" -lt "$REPS" ]; do
  "$OUT/heap-bench" churn 2 2000000 >>"$OUT/none.times"
  LD_PRELOAD="$SO" "$OUT/heap-bench" churn 2 2000000 >>"$OUT/exact.times"
  LD_PRELOAD="$SO" DRIP_SAMPLE_BYTES="$SAMPLE" "$OUT/heap-bench" churn 2 2000000 >>"$OUT/sampled.times"
  i=$((i + 1))
done
base=$(median <"$OUT/none.times")
exact=$(median <"$OUT/exact.times")
sampled=$(median <"$OUT/sampled.times")
ht=""
if command -v heaptrack >/dev/null 2>&1; then
  i=0
  : >"$OUT/heaptrack.times"
  while [ "$i" -lt 3 ]; do
    heaptrack -o "$OUT/ht.$i" "$OUT/heap-bench" churn 2 2000000 2>/dev/null |
      grep -E '^[0-9]+\.[0-9]+$' >>"$OUT/heaptrack.times" || true
    rm -f "$OUT"/ht.$i.*
    i=$((i + 1))
  done
  ht=$(median <"$OUT/heaptrack.times")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
printf '  %-34s %8s s\n' "no agent" "$base"
printf '  %-34s %8s s  %s  (goal <= 3.00x)\n' "agent, exact" "$exact" "$(ratio "$exact" "$base")"
printf '  %-34s %8s s  %s  (goal <= 1.15x)\n' "agent, sampled DRIP_SAMPLE_BYTES=$SAMPLE" "$sampled" "$(ratio "$sampled" "$base")"
if [ -n "$ht" ]; then
  printf '  %-34s %8s s  %s  (3 runs; time inside the program only)\n' "heaptrack" "$ht" "$(ratio "$ht" "$base")"
fi

echo "agent memory with 1M live blocks (exact mode):"
LD_PRELOAD="$SO" "$OUT/heap-bench" hold 1000000 | awk '{
  printf "  live blocks %s, slot arrays %s B = %s B/block (goal <= 32), all agent memory %s B = %s B/block\n", $2, $6, $10, $8, $12}'
