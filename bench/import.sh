#!/usr/bin/env bash
# Kiln bulk-load benchmark (issue 5): `kiln import` of a generated Synthea population of about
# 1,000,000 resources (94 seeded clones of the 34 Synthea bundles) into a fresh data directory,
# with validation and every search index on; then the time until `kiln serve` on that directory
# answers, the counts per type through the API, and a sample of references resolved. Prints a
# report and a summary table; see bench/README.md.
#
# Usage: bench/import.sh [BUILD_DIR]          (what `make bench-import` runs; default build)
# Settings (environment):
#   BENCH_CLONES        clones of the 34 bundles (10,682 resources each; default 94 = 1,004,108)
#   BENCH_SEED          generator seed (default 42)
#   BENCH_IMPORT_ARGS   extra flags for kiln import (e.g. "--sync normal --workers 1")
#   BENCH_QUIET_WAIT    most seconds to wait for the machine to quieten first (default 60)
#   BENCH_KILN_THREADS  kiln serve --threads for the checks after the import (default 2)
#   BENCH_SKIP_BUILD=1  use the kiln already in BUILD_DIR
#
# A benchmark, not a test: exits 0 when everything ran, whatever the figures, and 1 when something
# could not run (build, generation, an import failure, a count mismatch, a reference that does not
# resolve).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$PWD/$BUILD_DIR
CLONES=${BENCH_CLONES:-94}
SEED=${BENCH_SEED:-42}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
KILN_THREADS=${BENCH_KILN_THREADS:-2}
T_IMPORT_PER_S=30000
FULL_POPULATION=1000000
KILN=$BUILD_DIR/kiln
POP=$ROOT/bench/population

die() { echo "bench-import: $*" >&2; exit 1; }
warn() { echo "  WARNING: $*"; WARNINGS+=("$*"); }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
READY_TRIES=3000
STOP_TRIES=600
WARNINGS=()

for tool in curl awk node; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ $CLONES =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLONES must be a positive integer"

bench_setup import-bench
build_binaries "$KILN"

# ---------------------------------------------------------------- the population
NDJSON=$TMP/population.ndjson
MANIFEST=$TMP/manifest.json
echo "== Generating $CLONES clone(s) of the Synthea bundles (seed $SEED)"
node "$POP/generate.mjs" --seed "$SEED" --clones "$CLONES" --out "$NDJSON" --manifest "$MANIFEST" \
  --queries "$TMP/queries" --quiet || die "generation failed"
TOTAL=$(node -e "console.log(require('$MANIFEST').total)")
BYTES=$(stat -c %s "$NDJSON")
echo "  $(fmt_int "$TOTAL") resources, $(awk -v b="$BYTES" 'BEGIN {printf "%.0f", b / 1e6}') MB of NDJSON"

# ---------------------------------------------------------------- the import
DATA=$TMP/data
echo "== kiln import (validation on, every search index, --sync full unless BENCH_IMPORT_ARGS says otherwise)"
wait_quiet "$QUIET_WAIT"
# The page cache is shared with the NDJSON just written: drop nothing (not root everywhere), but
# read the file once so every run starts from the same (cached) state.
cat "$NDJSON" >/dev/null
all0=$(busy_ticks)
start_ns=$(date +%s%N)
# Progress lines (every 5 s, stderr is not a terminal) get the seconds since the start prefixed.
# shellcheck disable=SC2086
( /usr/bin/time -f '%U %S %M' -o "$TMP/import.time" \
    "$KILN" import "$NDJSON" --data "$DATA" ${BENCH_IMPORT_ARGS:-} >"$TMP/import.out" 2>"$TMP/import.err.raw" ) &
job=$!
PIDS+=("$job")
# Timestamps taken as the lines arrive (tail -F on the raw stream).
( tail -n +1 -F "$TMP/import.err.raw" 2>/dev/null | while IFS= read -r line; do
    printf '%s %s\n' "$(( ($(date +%s%N) - start_ns) / 1000000 ))" "$line"
  done >"$TMP/import.err" ) &
tailer=$!
PIDS+=("$tailer")
rc=0
wait "$job" || rc=$?
forget_pid "$job"
end_ns=$(date +%s%N)
sleep 0.3
pkill -TERM -P "$tailer" 2>/dev/null || true
kill -TERM "$tailer" 2>/dev/null || true
wait "$tailer" 2>/dev/null || true
forget_pid "$tailer"
all1=$(busy_ticks)
sed 's/^/  | /' "$TMP/import.out" | head -4
((rc == 0)) || { tail -20 "$TMP/import.out"; die "kiln import failed (exit $rc)"; }

WALL=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
STORED=$(sed -n 's/^Imported \([0-9,]*\) resources.*/\1/p' "$TMP/import.out" | tr -d ,)
[[ $STORED == "$TOTAL" ]] || die "kiln import stored $STORED resources, the generator wrote $TOTAL"
RATE=$(awk -v n="$STORED" -v s="$WALL" 'BEGIN {printf "%.0f", n / s}')
read -r USER_S SYS_S RSS_KB <"$TMP/import.time"
CPU_LINE=$(awk -v u="$USER_S" -v s="$SYS_S" -v all="$((all1 - all0))" -v hz="$(getconf CLK_TCK)" -v w="$WALL" \
  'BEGIN {mine = u + s; o = all / hz - mine; if (o < 0) o = 0
  printf "kiln import %.2f cores (%.0f s CPU), everything else %.2f cores", mine / w, mine, o / w}')
echo "  $(fmt_int "$STORED") resources in $WALL s: $(fmt_int "$RATE") resources/s; peak RSS $((RSS_KB / 1024)) MB"
echo "  CPU: $CPU_LINE"
others=${CPU_LINE##*else }
others=${others% cores}
awk -v o="$others" 'BEGIN {exit !(o > 0.15)}' &&
  warn "other work used $others cores during the import; the figures are not reliable"

# Per 100,000: the time at which each 100k boundary was passed, interpolated between progress
# lines ("<ms> import: N resources stored, ...").
echo "  resources/s per 100,000 (from the progress lines, every 5 s):"
awk -v total="$STORED" -v wall="$WALL" '
  / import: [0-9,]+ resources stored/ {
    ms = $1; n = $3; gsub(",", "", n); t[++k] = ms / 1000; c[k] = n + 0 }
  END {
    t[++k] = wall; c[k] = total
    prev_t = 0; prev_c = 0; step = 100000; next_b = step; last_bt = 0; line = ""
    for (i = 1; i <= k; i++) {
      while (c[i] >= next_b && next_b <= total) {
        bt = prev_t + (t[i] - prev_t) * (next_b - prev_c) / ((c[i] - prev_c) ? (c[i] - prev_c) : 1)
        line = line sprintf("    %7dk-%dk: %6.0f/s", (next_b - step) / 1000, next_b / 1000, step / (bt - last_bt))
        if (++cols % 3 == 0) { print line; line = "" }
        last_bt = bt; next_b += step
      }
      prev_t = t[i]; prev_c = c[i]
    }
    if (line != "") print line
  }' "$TMP/import.err"
DISK_MB=$(du -sm "$DATA" | cut -f1)
echo "  data directory: $(fmt_int "$DISK_MB") MB ($(awk -v m="$DISK_MB" -v n="$STORED" 'BEGIN {printf "%.0f", m * 1048576 / n}') bytes per resource)"

# ---------------------------------------------------------------- first serve and checks
echo "== kiln serve on the imported data"
KPORT=$(free_port)
t0=$(date +%s%N)
"$KILN" serve --port "$KPORT" --data "$DATA" --access-log false --threads "$KILN_THREADS" \
  >"$TMP/serve.out" 2>"$TMP/serve.log" &
KPID=$!
PIDS+=("$KPID")
wait_ready "$KPID" "$KPORT" || { tail -5 "$TMP/serve.log"; die "kiln serve did not become ready"; }
t1=$(date +%s%N)
BASE=http://127.0.0.1:$KPORT/fhir
first_query=$(head -1 "$TMP/queries/observation-code.txt")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KPORT$first_query")
t2=$(date +%s%N)
[[ $code == 200 ]] || die "the first search answered $code"
READY_MS=$(( (t1 - t0) / 1000000 ))
SEARCH_MS=$(( (t2 - t0) / 1000000 ))
echo "  /healthz answered 200 after $READY_MS ms; the first search ($first_query) answered after $SEARCH_MS ms"
grep -q 'search index rebuild started' "$TMP/serve.log" && warn "the server started a search index rebuild"
# Counts per type through the API.
mismatch=0
for type in $(node -e "console.log(Object.keys(require('$MANIFEST').byType).join(' '))"); do
  want=$(node -e "console.log(require('$MANIFEST').byType['$type'])")
  got=$(curl -s "$BASE/$type?_summary=count" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
  [[ $got == "$want" ]] || { echo "  $type: $got on the server, $want generated"; mismatch=1; }
done
((mismatch == 0)) || die "counts per type differ from the generator's"
echo "  counts per type on the server equal the generator's ($(node -e "console.log(Object.keys(require('$MANIFEST').byType).length)") types)"
node "$POP/verify.mjs" --base "$BASE" --sample 200 "$NDJSON" 2>&1 | sed 's/^/  /' ||
  die "verification failed (a reference did not resolve)"
stop_pid "$KPID"

# ---------------------------------------------------------------- summary
echo
echo "== Summary ($(fmt_int "$STORED") resources, seed $SEED, $CLONES clones; $(nproc) cores)"
printf '  %-44s %14s %-6s %-16s %6s  %s\n' "Figure" "Value" "" "Target" "Ratio" "Met"
awk -v v="$RATE" -v t="$T_IMPORT_PER_S" "$AWK_COMMAS"' BEGIN {
  printf "  %-44s %14s %-6s %-16s %6.2f  %s\n", "kiln import, overall (until on disk)", commas(v), "res/s", ">= " commas(t) " res/s", v / t, (v >= t) ? "yes" : "NO" }'
printf '  %-44s %14s %-6s %-16s\n' "   wall time" "$WALL" s "(report only)"
LOADED_S=$(sed -n 's/.*all committed after \([0-9.]*\) s.*/\1/p' "$TMP/import.out")
BUILD_S=$(sed -n 's/.*building the search value indexes took \([0-9.]*\) s.*/\1/p' "$TMP/import.out")
[[ -n $LOADED_S ]] && printf '  %-44s %14s %-6s %-16s\n' "   all resources committed after" "$LOADED_S" s "(report only)"
[[ -n $BUILD_S ]] && printf '  %-44s %14s %-6s %-16s\n' "   then building the value indexes" "$BUILD_S" s "(report only)"
printf '  %-44s %14s %-6s %-16s\n' "   data directory" "$(fmt_int "$DISK_MB")" MB "(report only)"
printf '  %-44s %14s %-6s %-16s\n' "Time to first serve: /healthz 200" "$(fmt_int "$READY_MS")" ms "(report only)"
printf '  %-44s %14s %-6s %-16s\n' "   first search answered" "$(fmt_int "$SEARCH_MS")" ms "(report only)"
((STORED >= FULL_POPULATION)) ||
  WARNINGS+=("the population has $(fmt_int "$STORED") resources, fewer than $(fmt_int "$FULL_POPULATION"): the figure does not compare with the target")
if ((${#WARNINGS[@]})); then
  echo "  Warnings:"
  for w in "${WARNINGS[@]}"; do echo "    - $w"; done
fi
exit 0
