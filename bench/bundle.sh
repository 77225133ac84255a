#!/usr/bin/env bash
# Kiln Bundle benchmark (issue 5): transaction Bundles through HTTP (POST [base]).
#   1. The 34 Synthea bundles (10,682 resources linked by urn:uuid), one after another with curl:
#      resources/s end to end.
#   2. The largest Synthea patient bundle (998 entries) POSTed again and again on one connection
#      (wrk -c1): resources/s end to end, per-transaction latency.
#   3. 100-entry transactions (self-contained prefix of that bundle) at 32-way concurrency
#      (wrk -t2 -c32): bundles/s, resources/s, latency.
# Every transaction is durable (--sync full) and validated, every resource indexed. Prints a
# report and a summary table; see bench/README.md.
#
# Usage: bench/bundle.sh [BUILD_DIR]          (what `make bench-bundle` runs; default build)
# Settings (environment):
#   BENCH_DURATION      seconds of each wrk run (default 10)
#   BENCH_KILN_THREADS  kiln --threads (default 2)
#   BENCH_QUIET_WAIT    most seconds to wait for the machine to quieten before each run (default 30)
#   BENCH_VERBOSE=1     also print wrk's output
#   BENCH_SKIP_BUILD=1  use the kiln already in BUILD_DIR
#
# A benchmark, not a test: exits 0 when everything ran, whatever the figures, 1 when something
# could not run (build, server start, a transaction that failed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$PWD/$BUILD_DIR
DURATION=${BENCH_DURATION:-10}
KILN_THREADS=${BENCH_KILN_THREADS:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
VERBOSE=${BENCH_VERBOSE:-0}
T_PATIENT_PER_S=10000
KILN=$BUILD_DIR/kiln
LUA=$ROOT/bench/lua
SYNTHEA=$ROOT/../shared/testdata/synthea/bundles

die() { echo "bench-bundle: $*" >&2; exit 1; }
warn() { echo "  WARNING: $*"; WARNINGS+=("$*"); }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WARNINGS=()
for tool in wrk curl awk node; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ -d $SYNTHEA ]] || die "the Synthea bundles are missing ($SYNTHEA)"

bench_setup bundle-bench
build_binaries "$KILN"

BODIES=$TMP/bodies
info=$(node "$ROOT/bench/population/bundles.mjs" "$BODIES" "$SYNTHEA") || die "could not make the bodies"
PATIENT_ENTRIES=$(node -e "console.log(JSON.parse(process.argv[1]).patient_entries)" "$info")
echo "  bodies: $info"

KPORT=$(free_port)
"$KILN" serve --port "$KPORT" --data "$TMP/data" --access-log false --threads "$KILN_THREADS" \
  >"$TMP/kiln.out" 2>"$TMP/kiln.log" &
KPID=$!
PIDS+=("$KPID")
wait_ready "$KPID" "$KPORT" || { tail -5 "$TMP/kiln.log"; die "kiln did not become ready"; }
BASE=http://127.0.0.1:$KPORT/fhir
echo "== kiln on $BASE (--threads $KILN_THREADS, --sync full, validation on, access log off)"

# ---------------------------------------------------------------- 1. the 34 bundles with curl
echo "== 1. The 34 Synthea transaction bundles, one after another (curl)"
wait_quiet "$QUIET_WAIT"
t0=$(cpu_ticks "$KPID")
all0=$(busy_ticks)
total_s=0
total_entries=0
for f in "$SYNTHEA"/*.json; do
  entries=$(grep -c '"request"' "$f")
  out=$(curl -s -o "$TMP/resp.json" -w '%{http_code} %{time_total}' -X POST "$BASE" \
    -H 'Content-Type: application/fhir+json' -H 'Prefer: return=minimal' --data-binary "@$f")
  [[ ${out%% *} == 200 ]] || { head -c 600 "$TMP/resp.json"; die "$(basename "$f") answered ${out%% *}"; }
  total_s=$(awk -v a="$total_s" -v b="${out##* }" 'BEGIN {print a + b}')
  total_entries=$((total_entries + entries))
done
t1=$(cpu_ticks "$KPID")
all1=$(busy_ticks)
ALL34_RATE=$(awk -v n="$total_entries" -v s="$total_s" 'BEGIN {printf "%.0f", n / s}')
echo "  $(fmt_int "$total_entries") resources in $(awk -v s="$total_s" 'BEGIN {printf "%.2f", s}') s of requests: $(fmt_int "$ALL34_RATE") resources/s"
awk -v k="$((t1 - t0))" -v all="$((all1 - all0))" -v hz="$(getconf CLK_TCK)" -v s="$total_s" \
  'BEGIN {printf "  CPU: server %.0f%% of the request time, everything else (curl included) %.2f cores\n", 100 * k / hz / s, (all - k) / hz / s}'

# ---------------------------------------------------------------- wrk runs
# run_wrk NAME BODY THREADS CONNECTIONS: sets R_RPS R_P50 R_P99 (ms) R_REQS R_NON2XX R_ERR R_CPU.
ms() { awk -v u="$1" 'BEGIN {printf "%.1f", u / 1000}'; }
run_wrk() {
  local name=$1 body=$2 threads=$3 conns=$4 t0 t1 all0 all1 wrk_cpu line
  wait_quiet "$QUIET_WAIT"
  t0=$(cpu_ticks "$KPID")
  all0=$(busy_ticks)
  local TIMEFORMAT='%U %S' wrk_job
  { time BENCH_BUNDLE=$body wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 30s --latency \
      -s "$LUA/bundle.lua" "http://127.0.0.1:$KPORT" >"$TMP/$name.wrk" 2>&1; } 2>"$TMP/$name.time" &
  wrk_job=$!
  PIDS+=("$wrk_job")
  wait "$wrk_job" || { cat "$TMP/$name.wrk"; die "wrk ($name) failed"; }
  forget_pid "$wrk_job"
  t1=$(cpu_ticks "$KPID")
  all1=$(busy_ticks)
  [[ $VERBOSE == 1 ]] && sed 's/^/    | /' "$TMP/$name.wrk"
  line=$(grep '^BENCH ' "$TMP/$name.wrk") || { cat "$TMP/$name.wrk"; die "no result from wrk ($name)"; }
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  R_RPS=$(get rps) R_P50=$(ms "$(get p50_us)") R_P99=$(ms "$(get p99_us)")
  R_REQS=$(get requests) R_NON2XX=$(get non2xx) R_ERR=$(get socket_errors)
  wrk_cpu=$(awk '{print $1 + $2}' "$TMP/$name.time")
  R_CPU=$(awk -v k="$((t1 - t0))" -v all="$((all1 - all0))" -v hz="$(getconf CLK_TCK)" \
    -v w="$wrk_cpu" -v s="$DURATION" 'BEGIN {o = (all - k) / hz / s - w / s; if (o < 0) o = 0
    printf "server %.2f cores, wrk %.2f cores, everything else %.2f cores", k / hz / s, w / s, o}')
  local others=${R_CPU##*else }
  others=${others% cores}
  awk -v o="$others" 'BEGIN {exit !(o > 0.15)}' &&
    warn "$name: other work used $others cores during the run; its figures are not reliable"
  ((R_NON2XX == 0)) || die "$name: $R_NON2XX transactions did not answer 2xx"
  ((R_ERR == 0)) || warn "$name: $R_ERR socket errors"
  return 0
}

echo "== 2. The $PATIENT_ENTRIES-entry patient bundle, one connection (wrk -t1 -c1 -d${DURATION}s)"
run_wrk patient "$BODIES/patient.json" 1 1
PATIENT_BPS=$R_RPS
PATIENT_RATE=$(awk -v r="$R_RPS" -v n="$PATIENT_ENTRIES" 'BEGIN {printf "%.0f", r * n}')
PATIENT_P50=$R_P50 PATIENT_P99=$R_P99
echo "  $R_REQS transactions: $R_RPS/s = $(fmt_int "$PATIENT_RATE") resources/s; latency p50 $R_P50 ms, p99 $R_P99 ms"
echo "  CPU: $R_CPU"

echo "== 3. 100-entry transactions, 32 connections (wrk -t2 -c32 -d${DURATION}s)"
run_wrk tx100 "$BODIES/tx100.json" 2 32
TX_BPS=$R_RPS
TX_RATE=$(awk -v r="$R_RPS" 'BEGIN {printf "%.0f", r * 100}')
TX_P50=$R_P50 TX_P99=$R_P99
echo "  $R_REQS transactions: $R_RPS bundles/s = $(fmt_int "$TX_RATE") resources/s; latency p50 $R_P50 ms, p99 $R_P99 ms"
echo "  CPU: $R_CPU"
stop_pid "$KPID"

echo
echo "== Summary (kiln --threads $KILN_THREADS, wrk and curl on the same $(nproc) cores)"
printf '  %-48s %12s %-10s %-16s %6s  %s\n' "Figure" "Value" "" "Target" "Ratio" "Met"
row() {
  awk -v name="$1" -v v="$2" -v unit="$3" -v t="$4" "$AWK_COMMAS"' BEGIN {
    if (t == "") { printf "  %-48s %12s %-10s %-16s\n", name, commas(v), unit, "(report only)"; exit }
    printf "  %-48s %12s %-10s %-16s %6.2f  %s\n", name, commas(v), unit, ">= " commas(t), v / t, (v >= t) ? "yes" : "NO" }'
}
row "1. 34 Synthea transactions (curl, sequential)" "$ALL34_RATE" res/s "$T_PATIENT_PER_S"
row "2. $PATIENT_ENTRIES-entry transaction, 1 connection" "$PATIENT_RATE" res/s "$T_PATIENT_PER_S"
row "   transactions/s; p50 / p99 latency" "$PATIENT_BPS; $PATIENT_P50 / $PATIENT_P99" "/s; ms" ""
row "3. 100-entry transactions, 32 connections" "$TX_BPS" bundles/s ""
row "   resources/s" "$TX_RATE" res/s ""
row "   p50 / p99 latency" "$TX_P50 / $TX_P99" ms ""
if ((${#WARNINGS[@]})); then
  echo "  Warnings:"
  for w in "${WARNINGS[@]}"; do echo "    - $w"; done
fi
exit 0
