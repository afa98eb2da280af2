#!/bin/sh
# Runs the agent's C tests with the agent preloaded; prints one line per
# test and a final "agent: N passed, M failed". Usage: run-tests.sh SO DIR
SO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "  ok    $1"; }
bad() { fail=$((fail + 1)); echo "  FAIL  $1"; [ -n "$2" ] && sed 's/^/        /' "$2"; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# The agent needs libc (and ld.so) only, and exports only the allocator
# and its state.
needed=$(readelf -d "$SO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
case "$needed" in
"libc.so.6 " | "ld-linux-x86-64.so.2 libc.so.6 ") ok "NEEDED is libc only ($needed)" ;;
*) bad "NEEDED is libc only (got: $needed)" ;;
esac
exports=$(nm -D --defined-only "$SO" | awk '{print $3}' | sort | tr '\n' ' ')
want="aligned_alloc calloc drip_agent_state free malloc malloc_usable_size memalign posix_memalign pvalloc realloc reallocarray valloc "
if [ "$exports" = "$want" ]; then ok "exports only the allocator + drip_agent_state"; else bad "exports: $exports"; fi
if readelf -r "$SO" | grep -q TPOFF && ! readelf -r "$SO" | grep -q -i dtpmod; then
  ok "TLS is initial-exec"
else bad "TLS is initial-exec"; fi

run() { # name env... -- cmd...
  name=$1; shift
  if env "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then ok "$name"; else bad "$name (exit $?)" "$OUT/$name.err"; fi
}

run table timeout 60 "$T/test_table"
run counts LD_PRELOAD="$SO" timeout 60 "$T/test_counts"
run counts-unbiased LD_PRELOAD="$SO" DRIP_AGENT_BIAS=0 EXPECT_BIASED=0 timeout 60 "$T/test_counts"
if grep -q drip-agent "$OUT/counts.err"; then bad "agent silent in normal operation" "$OUT/counts.err"; else ok "agent silent in normal operation"; fi
run stack-frame-pointers LD_PRELOAD="$SO" timeout 60 "$T/test_stack_fp"
run stack-cfi-omit-frame-pointer LD_PRELOAD="$SO" timeout 60 "$T/test_stack_cfi"
run cxx-new LD_PRELOAD="$SO" timeout 60 "$T/test_cxx"
run early-and-bootstrap LD_PRELOAD="$SO" timeout 60 "$T/test_early"
run mapped-bytes LD_PRELOAD="$SO" timeout 60 "$T/test_mapped"
run stress LD_PRELOAD="$SO" timeout 120 "$T/test_stress"
run stress-sampled LD_PRELOAD="$SO" DRIP_SAMPLE_BYTES=4096 timeout 120 "$T/test_stress"
# Shards under the lock from the start (what a process without membarrier gets).
run stress-unbiased LD_PRELOAD="$SO" DRIP_AGENT_BIAS=0 timeout 120 "$T/test_stress"

# Sampled: 10 runs; the mean estimate must be within 3% of the truth.
: >"$OUT/ratios"
i=0
sfail=0
while [ $i -lt 10 ]; do
  if LD_PRELOAD="$SO" DRIP_SAMPLE_BYTES=65536 timeout 60 "$T/test_sampled" >>"$OUT/ratios" 2>>"$OUT/sampled.err"; then :; else sfail=1; fi
  i=$((i + 1))
done
summary=$(awk '{r += $2; c += $4; n++; if ($2 < lo || n == 1) lo = $2; if ($2 > hi) hi = $2}
  END {printf "%.4f %.4f %.4f %.4f %d", r / n, c / n, lo, hi, n}' "$OUT/ratios")
set -- $summary
if [ $sfail -eq 0 ] && [ "$5" = 10 ] && awk -v r="$1" -v c="$2" 'BEGIN {exit !(r > 0.97 && r < 1.03 && c > 0.90 && c < 1.10)}'; then
  ok "sampled estimate: mean bytes ratio $1 (runs $3..$4), count ratio $2"
else
  bad "sampled estimate: mean bytes ratio $1 (runs $3..$4), count ratio $2" "$OUT/sampled.err"
fi

# Limit: one stderr line from the agent, then SIGSYS (128 + 31). dash may
# add its own "Bad system call" report to the file; only agent lines count.
LD_PRELOAD="$SO" DRIP_LIMIT_BYTES=16777216 "$T/test_limit" 2>"$OUT/limit.err"
st=$?
lines=$(grep -c drip-agent "$OUT/limit.err")
if [ $st -eq 159 ] && [ "$lines" -eq 1 ] &&
  grep -Eq '^drip-agent: pid [0-9]+ dynamic memory limit 16777216 bytes exceeded \(live [0-9]+ \+ request 4096\)$' "$OUT/limit.err"; then
  ok "limit: one line and SIGSYS ($(grep drip-agent "$OUT/limit.err"))"
else
  bad "limit (status $st, $lines lines)" "$OUT/limit.err"
fi

if [ -x "$T/test_jemalloc" ]; then
  run jemalloc-forwarding LD_PRELOAD="$SO" timeout 60 "$T/test_jemalloc"
else
  echo "  skip  jemalloc-forwarding (libjemalloc not installed: apt-get install -y libjemalloc-dev)"
fi

echo "agent: $pass passed, $fail failed"
[ $fail -eq 0 ]
