#!/usr/bin/env bash
# Kiln search benchmark (issue 4): a realistic population of about 1,000,000 resources (94 seeded
# clones of the 34 Synthea bundles), loaded through the HTTP API, then search latency, a search mix,
# _summary=count and paging throughput. Prints a report and a summary table; see bench/README.md.
#
# Usage: bench/search.sh [BUILD_DIR]          (what `make bench-search` runs; default build)
# Settings (environment):
#   BENCH_CLONES            clones of the 34 bundles (10,682 resources each; default 94 = 1,004,108)
#   BENCH_SEED              generator seed (default 42)
#   BENCH_POPULATION_DIR    keep the population here (data/, queries/, manifest.json, load.json) and
#                           reuse it on the next run with the same clones and seed instead of loading
#                           again; without it everything lives in a temporary directory, removed at exit
#   BENCH_KEEP_NDJSON=1     keep the generated population.ndjson (about 1.3 KB per resource)
#   BENCH_LOAD_CONCURRENCY  PUTs in flight while loading (default 48)
#   BENCH_KILN_THREADS      kiln --threads (default 2)
#   BENCH_DURATION          seconds of each measured wrk run (default 10)
#   BENCH_WARMUP            seconds of unreported warm-up before each kind of search (default 3)
#   BENCH_PAGE_LIMIT        matches to page through (default 100000)
#   BENCH_QUIET_WAIT        most seconds to wait for the machine to quieten before loading (default
#                           60; at most 15 before each later measurement; 0 never waits)
#   BENCH_VERBOSE=1         also print wrk's own output
#   BENCH_SKIP_BUILD=1      use the kiln already in BUILD_DIR
#
# A benchmark, not a test: exits 0 when everything ran, whatever the figures, and 1 when something
# could not run (build, server start, generation, loading, a count mismatch, verification).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$PWD/$BUILD_DIR

CLONES=${BENCH_CLONES:-94}
SEED=${BENCH_SEED:-42}
LOAD_CONCURRENCY=${BENCH_LOAD_CONCURRENCY:-48}
KILN_THREADS=${BENCH_KILN_THREADS:-2}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
PAGE_LIMIT=${BENCH_PAGE_LIMIT:-100000}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
STEP_WAIT=$((QUIET_WAIT < 15 ? QUIET_WAIT : 15))   # before each later measurement
VERBOSE=${BENCH_VERBOSE:-0}
CONNECTIONS=32
WRK_THREADS=2

# Targets (issue 4; see bench/README.md).
T_P50_MS=2
T_P99_MS=10
T_MIX_RPS=5000
T_COUNT_PER_S=5000000
T_PAGE_PER_S=100000
T_CREATE_PER_S=5000
FULL_POPULATION=1000000

KILN=$BUILD_DIR/kiln
POP=$ROOT/bench/population
LUA=$ROOT/bench/lua

die() { echo "bench-search: $*" >&2; exit 1; }
warn() { echo "  WARNING: $*"; WARNINGS+=("$*"); }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
READY_TRIES=3000  # opening a big database takes a while: 60 s
STOP_TRIES=600    # and so does closing it: 30 s
WARNINGS=()

for tool in wrk curl awk node sqlite3; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -d $ROOT/../shared/testdata/synthea/bundles ]] ||
  die "the Synthea bundles are missing ($ROOT/../shared/testdata/synthea/bundles)"
[[ $CLONES =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLONES must be a positive integer"

# ---------------------------------------------------------------- clean-up of what we start
bench_setup search-bench

# ---------------------------------------------------------------- build
build_binaries "$KILN"

# ---------------------------------------------------------------- helpers (more in bench/lib.sh)
# start_kiln DATA_DIR NAME: sets KPID, KPORT and BASE.
start_kiln() {
  KPORT=$(free_port)
  "$KILN" serve --port "$KPORT" --data "$1" --access-log false --threads "$KILN_THREADS" \
    >"$TMP/$2.out" 2>"$TMP/$2.log" &
  KPID=$!
  PIDS+=("$KPID")
  wait_ready "$KPID" "$KPORT" || { tail -5 "$TMP/$2.log"; die "kiln ($2) did not become ready"; }
  BASE=http://127.0.0.1:$KPORT/fhir
}

# warm_store [DATA_DIR]: reads the store's files once, so that a figure measures kiln with its data in the
# page cache, as on a server that has been serving them. This VM's proactive page reclaim (DAMON)
# empties an idle page cache at about 100 MB/s (a freshly read 5.7 GB kiln.db was down to 1.4 GB
# after 50 s): without this, figure 1 measured disk reads (1-connection p99 14-17 ms, against
# 1.7-2.6 ms right after the file had been read).
warm_store() {  # warm_store [DATA_DIR]
  cat "${1:-$DATA}"/kiln.db* >/dev/null 2>&1 || true
}

# step CMD...: runs CMD in the background, its output indented, and waits for it, so that Ctrl-C or
# SIGTERM stop the script at once even during a long load (bash runs traps only after a foreground
# command ends); returns CMD's exit status.
step() {
  local job rc=0
  (
    set +e
    "$@" 2>&1 | sed -u 's/^/  /'
    exit "${PIPESTATUS[0]}"
  ) &
  job=$!
  PIDS+=("$job")
  wait "$job" || rc=$?
  forget_pid "$job"
  return "$rc"
}

ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }

# run_wrk NAME SECONDS THREADS CONNECTIONS PATHS: runs wrk with lua/search.lua over PATHS (see
# search.lua) against kiln; sets R_RPS R_P50 R_P90 R_P99 R_MAX (ms) R_REQS R_NON2XX R_ERR R_CPU.
run_wrk() {
  local name=$1 secs=$2 threads=$3 conns=$4 paths=$5 t0 t1 all0 all1 wrk_cpu line
  t0=$(cpu_ticks "$KPID")
  all0=$(busy_ticks)
  local TIMEFORMAT='%U %S' wrk_job script=${WRK_SCRIPT:-search.lua}
  { time BENCH_PATHS=$paths BENCH_WRK_THREADS=$threads wrk -t"$threads" -c"$conns" -d"${secs}s" \
      --timeout 10s --latency -s "$LUA/$script" "http://127.0.0.1:$KPORT" >"$TMP/$name.wrk" 2>&1; } \
    2>"$TMP/$name.time" &
  wrk_job=$!
  PIDS+=("$wrk_job")
  wait "$wrk_job" || { cat "$TMP/$name.wrk"; die "wrk ($name) failed"; }
  forget_pid "$wrk_job"
  t1=$(cpu_ticks "$KPID")
  all1=$(busy_ticks)
  [[ $VERBOSE == 1 ]] && sed 's/^/    | /' "$TMP/$name.wrk"
  line=$(grep '^BENCH ' "$TMP/$name.wrk") || { cat "$TMP/$name.wrk"; die "no result from wrk ($name)"; }
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  R_RPS=$(get rps)
  R_P50=$(ms "$(get p50_us)") R_P90=$(ms "$(get p90_us)") R_P99=$(ms "$(get p99_us)") R_MAX=$(ms "$(get max_us)")
  R_REQS=$(get requests) R_NON2XX=$(get non2xx) R_ERR=$(get socket_errors)
  wrk_cpu=$(awk '{print $1 + $2}' "$TMP/$name.time")
  R_CPU=$(awk -v k="$((t1 - t0))" -v all="$((all1 - all0))" -v hz="$(getconf CLK_TCK)" \
    -v w="$wrk_cpu" -v s="$secs" 'BEGIN {o = (all - k) / hz / s - w / s; if (o < 0) o = 0
    printf "server %.2f cores, wrk %.2f cores, everything else %.2f cores", k / hz / s, w / s, o}')
  if [[ $name != *warmup ]]; then
    local others=${R_CPU##*else }
    others=${others% cores}
    awk -v o="$others" 'BEGIN {exit !(o > 0.15)}' &&
      warn "$name: other work used $others cores during the run; its figures are not reliable"
    ((R_NON2XX == 0)) || warn "$name: $R_NON2XX responses were not 2xx/3xx"
    ((R_ERR == 0)) || warn "$name: $R_ERR socket errors (connect/read/write/timeout)"
  fi
  return 0
}

# jget FILE EXPR: a value from a JSON file (EXPR is JavaScript on `j`).
jget() { node -e "const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); console.log($2)" "$1"; }

# ---------------------------------------------------------------- context
echo
echo "== Machine"
echo "  $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)),"\
  "$(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
echo "  kiln $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)'), $BUILD_TYPE build,"\
  "--threads $KILN_THREADS --access-log false"
echo "  load before run: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- population
if [[ -n ${BENCH_POPULATION_DIR:-} ]]; then
  PDIR=$BENCH_POPULATION_DIR
  mkdir -p "$PDIR"
  PDIR=$(cd "$PDIR" && pwd)
else
  PDIR=$TMP/population
  mkdir -p "$PDIR"
fi
DATA=$PDIR/data
QUERIES=$PDIR/queries
MANIFEST=$PDIR/manifest.json
LOADRES=$PDIR/load.json
NDJSON=$PDIR/population.ndjson
EXPECTED=$((CLONES * 10682))

REUSED=0
if [[ -f $LOADRES && -f $MANIFEST && -d $DATA ]]; then
  have=$(jget "$MANIFEST" '`${j.seed} ${j.clones} ${j.firstClone}`')
  [[ $have == "$SEED $CLONES 0" ]] ||
    die "$PDIR holds a population of seed/clones/first clone '$have', not '$SEED $CLONES 0': use another BENCH_POPULATION_DIR or delete it"
  REUSED=1
elif [[ -e $DATA ]]; then
  die "$DATA exists but its load did not complete ($LOADRES is missing): delete $PDIR and run again"
fi

if ((REUSED)); then
  echo
  echo "== Population: reusing $PDIR (seed $SEED, $CLONES clones, loaded $(date -r "$LOADRES" '+%Y-%m-%d %H:%M'))"
  start_kiln "$DATA" kiln
  echo "  kiln on port $KPORT"
  # A kiln whose index rules changed since the load rebuilds every resource's index rows in the
  # background (docs/operations.md); measuring during that would measure the rebuild.
  if curl -sf "http://127.0.0.1:$KPORT/metrics" 2>/dev/null | grep -q '^kiln_reindex_running 1'; then
    echo "  the search index is being rebuilt for this kiln's index rules; waiting for it to finish"
    while curl -sf "http://127.0.0.1:$KPORT/metrics" | grep -q '^kiln_reindex_running 1'; do
      sleep 10
      echo "    $(curl -sf "http://127.0.0.1:$KPORT/metrics" | awk '/^kiln_reindex_resources_(done|total) / {printf "%s ", $2}')"
    done
  fi
else
  echo
  echo "== Generating the population: $CLONES clone(s) of the 34 Synthea bundles, seed $SEED"
  echo "  ($(fmt_int "$EXPECTED") resources; NDJSON, query values and manifest in $PDIR)"
  gen_start=$(date +%s%N)
  step node "$POP/generate.mjs" --seed "$SEED" --clones "$CLONES" --out "$NDJSON" \
    --queries "$QUERIES" --manifest "$MANIFEST" || die "generation failed"
  gen_s=$(awk -v n="$(($(date +%s%N) - gen_start))" 'BEGIN {printf "%.1f", n / 1e9}')
  echo "  generated in $gen_s s"

  start_kiln "$DATA" kiln
  echo
  echo "== Loading with PUT (update as create), $LOAD_CONCURRENCY in flight, into a fresh kiln (port $KPORT)"
  wait_quiet "$QUIET_WAIT"
  t0=$(cpu_ticks "$KPID")
  step node "$POP/load.mjs" --base "$BASE" --concurrency "$LOAD_CONCURRENCY" --manifest "$MANIFEST" \
    --data "$DATA" --result "$TMP/load.json" "$NDJSON" || die "loading failed (see above)"
  t1=$(cpu_ticks "$KPID")
  load_s=$(jget "$TMP/load.json" 'j.seconds')
  echo "  kiln used $(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s="$load_s" \
    'BEGIN {printf "%.2f", t / hz / s}') cores while loading"

  echo
  echo "== Verifying the loaded population (sampled references resolve, query files answer)"
  step node "$POP/verify.mjs" --base "$BASE" --queries "$QUERIES" "$NDJSON" ||
    die "verification failed (see above)"
  mv "$TMP/load.json" "$LOADRES"
  [[ ${BENCH_KEEP_NDJSON:-0} == 1 ]] || rm -f "$NDJSON"
fi

LOADED=$(jget "$LOADRES" 'j.ok')
LOAD_RATE=$(jget "$LOADRES" 'j.rate.toFixed(1)')
INDEX_BPR=$(jget "$LOADRES" 'j.disk.indexBytesPerResource ? j.disk.indexBytesPerResource.toFixed(0) : 0')
RES_BPR=$(jget "$LOADRES" 'j.disk.resourceBytesPerResource ? j.disk.resourceBytesPerResource.toFixed(0) : 0')
FILE_BPR=$(jget "$LOADRES" 'j.disk.fileBytesPerResource ? j.disk.fileBytesPerResource.toFixed(0) : 0')
DISK_MB=$(jget "$LOADRES" '(j.disk.totalFileBytes / 1048576).toFixed(0)')
((LOADED >= FULL_POPULATION)) ||
  warn "the population has $(fmt_int "$LOADED") resources, not the ~1,000,000 of the issue: figures do not compare with the targets"

OBS=$QUERIES/observation-patient-code-date.txt
PAT=$QUERIES/patient-family-birthdate.txt
MIX="$OBS:3,$PAT:2,$QUERIES/encounter-patient.txt:2,$QUERIES/condition-code.txt:1,$QUERIES/observation-code.txt:2"
echo
echo "== Query values (drawn from the population by the generator)"
for f in "$QUERIES"/*.txt; do
  printf '  %-34s %5d paths, e.g. %s\n' "$(basename "$f" .txt)" "$(wc -l <"$f")" "$(head -1 "$f")"
done

# ---------------------------------------------------------------- 1, 2: latency
declare -A LAT
latency() {  # latency KEY LABEL PATHS
  local key=$1 label=$2 paths=$3
  echo
  echo "== $label"
  wait_quiet "$STEP_WAIT"
  warm_store
  ((WARMUP > 0)) && run_wrk "$key-warmup" "$WARMUP" "$WRK_THREADS" "$CONNECTIONS" "$paths"
  run_wrk "$key-c1" "$DURATION" 1 1 "$paths"
  LAT[$key-c1-p50]=$R_P50 LAT[$key-c1-p99]=$R_P99 LAT[$key-c1-rps]=$R_RPS
  echo "  1 connection:   $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"\
    "($(fmt_int "$R_REQS") requests)"
  echo "    CPU: $R_CPU"
  run_wrk "$key-c32" "$DURATION" "$WRK_THREADS" "$CONNECTIONS" "$paths"
  LAT[$key-c32-p50]=$R_P50 LAT[$key-c32-p99]=$R_P99 LAT[$key-c32-rps]=$R_RPS
  echo "  $CONNECTIONS connections: $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"\
    "($(fmt_int "$R_REQS") requests)"
  echo "    CPU: $R_CPU"
}
latency obs "1. Observation?patient=X&code=Y&date=geD ($(wc -l <"$OBS") value sets), ${DURATION} s per run" "$OBS"
latency pat "2. Patient?family=F&birthdate=D ($(wc -l <"$PAT") value sets), ${DURATION} s per run" "$PAT"

# ---------------------------------------------------------------- 3: mix
echo
echo "== 3. Search mix, $CONNECTIONS connections, ${DURATION} s: Observation?patient&code&date 3,"\
  "Patient?family&birthdate 2, Encounter?patient 2, Condition?code 1, Observation?code&_count=10 2"
wait_quiet "$STEP_WAIT"
warm_store
((WARMUP > 0)) && run_wrk mix-warmup "$WARMUP" "$WRK_THREADS" "$CONNECTIONS" "$MIX"
run_wrk mix "$DURATION" "$WRK_THREADS" "$CONNECTIONS" "$MIX"
MIX_RPS=$R_RPS MIX_P50=$R_P50 MIX_P99=$R_P99
echo "  $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms ($(fmt_int "$R_REQS") requests)"
echo "  CPU: $R_CPU"

# ---------------------------------------------------------------- 4: count
echo
echo "== 4. GET Observation?_summary=count (median of 5 after one warm-up), one connection"
wait_quiet "$STEP_WAIT"
warm_store
out=$(node "$POP/measure.mjs" count "$BASE/Observation?_summary=count" --repeat 5) || die "count failed"
mget() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out"; }
COUNT_TOTAL=$(mget total) COUNT_MS=$(mget median_ms) COUNT_RATE=$(mget counted_per_s)
echo "  total $(fmt_int "$COUNT_TOTAL") Observations in $COUNT_MS ms (best $(mget best_ms), worst $(mget worst_ms) ms):"\
  "$(fmt_int "$COUNT_RATE") matched resources counted per second"

# ---------------------------------------------------------------- 5: paging
echo
echo "== 5. Paging: Observation?_count=1000, following next links to $(fmt_int "$PAGE_LIMIT") matches, one connection"
wait_quiet "$STEP_WAIT"
warm_store
# One unreported pass first, as the other figures have a warm-up: the first walk after a load (or a
# restart) reads the resources' pages from disk, which measures the disk, not the server. The cold
# figure is printed too.
out=$(node "$POP/measure.mjs" page "$BASE/Observation?_count=1000" --limit "$PAGE_LIMIT") || die "paging failed"
echo "  cold pass (not counted): $(fmt_int "$(mget delivered_per_s)") resources/s, per page p50 $(mget page_p50_ms) ms"
out=$(node "$POP/measure.mjs" page "$BASE/Observation?_count=1000" --limit "$PAGE_LIMIT") || die "paging failed"
PAGE_N=$(mget matches) PAGE_RATE=$(mget delivered_per_s) PAGE_S=$(mget seconds)
echo "  $(fmt_int "$PAGE_N") Observations in $(mget pages) pages, $(awk -v b="$(mget bytes)" 'BEGIN {printf "%.1f", b / 1048576}') MB,"\
  "$PAGE_S s: $(fmt_int "$PAGE_RATE") resources/s ($(mget mb_per_s) MB/s);"\
  "per page p50 $(mget page_p50_ms) ms, p99 $(mget page_p99_ms) ms"
((PAGE_N >= PAGE_LIMIT)) ||
  warn "paging ran out of Observations after $(fmt_int "$PAGE_N") (fewer than $(fmt_int "$PAGE_LIMIT") in the population)"

stop_pid "$KPID"

# A reused population's sizes are measured again: the load's figures predate any index rebuild.
if ((REUSED)); then
  if node "$POP/load.mjs" --sizes "$DATA" >"$TMP/sizes.json" 2>"$TMP/sizes.err"; then
    INDEX_BPR=$(jget "$TMP/sizes.json" 'j.indexBytesPerResource ? j.indexBytesPerResource.toFixed(0) : 0')
    RES_BPR=$(jget "$TMP/sizes.json" 'j.resourceBytesPerResource ? j.resourceBytesPerResource.toFixed(0) : 0')
    FILE_BPR=$(jget "$TMP/sizes.json" 'j.fileBytesPerResource ? j.fileBytesPerResource.toFixed(0) : 0')
    DISK_MB=$(jget "$TMP/sizes.json" '(j.totalFileBytes / 1048576).toFixed(0)')
  else
    warn "could not measure the data directory's sizes again (the load's figures are shown): $(head -1 "$TMP/sizes.err")"
  fi
fi

# ---------------------------------------------------------------- 6: create throughput
# POSTs of realistic resources (two Synthea clones past the population: every type in its real
# proportion, server-assigned ids), durable, through wrk, first into a copy of the loaded store
# (the copy keeps the population as it was for the next run), then into an empty one.
echo
echo "== 6. Create throughput, indexing on: POST of realistic resources, $CONNECTIONS connections, ${DURATION} s, durable"
CREATE_NDJSON=$TMP/create.ndjson
node "$POP/generate.mjs" --seed "$SEED" --clones 2 --first-clone "$CLONES" --out "$CREATE_NDJSON" \
  >/dev/null 2>&1 || die "generating the resources to create failed"
cp -r --reflink=auto "$DATA" "$TMP/create-data" || die "copying the store failed"
rm -f "$TMP/create-data/kiln.lock"
sync
# create_run DATA_DIR NAME [CONNECTIONS [FIRST]]: with FIRST=1, the first DURATION seconds after
# opening the store are measured on their own (FIRST_RPS) before the measured run: they are slower
# than on a server that has been taking writes (on the 1M store, 3,724/s against 4,610/s in the
# 10 s just after). Likely causes: the write-ahead log file grows from nothing during the first
# checkpoint cycle, and the first writes split index pages that no write touched since the load.
create_run() {
  start_kiln "$1" "$2"
  wait_quiet "$STEP_WAIT"
  warm_store "$1"
  if [[ ${4:-0} == 1 ]]; then
    WRK_SCRIPT=create_population.lua BENCH_NDJSON=$CREATE_NDJSON run_wrk "$2-first" "$DURATION" \
      "$WRK_THREADS" "${3:-$CONNECTIONS}" ""
    FIRST_RPS=$R_RPS FIRST_P99=$R_P99
  fi
  WRK_SCRIPT=create_population.lua BENCH_NDJSON=$CREATE_NDJSON run_wrk "$2" "$DURATION" \
    "$WRK_THREADS" "${3:-$CONNECTIONS}" ""
  stop_pid "$KPID"
}
create_run "$TMP/create-data" create-loaded "$CONNECTIONS" 1
CREATE_RPS=$R_RPS CREATE_P99=$R_P99 CREATE_FIRST_RPS=$FIRST_RPS
echo "  into the loaded store, first ${DURATION} s after opening: $(fmt_int "$FIRST_RPS") creates/s"\
  " p99 $FIRST_P99 ms"
echo "  into the loaded store, the next ${DURATION} s: $(fmt_int "$R_RPS") creates/s  p50 $R_P50 ms"\
  " p99 $R_P99 ms  max $R_MAX ms"
echo "    CPU: $R_CPU"
# More clients in flight make bigger group commits, which share the index pages they dirty.
create_run "$TMP/create-data" create-loaded-256 256
CREATE_256_RPS=$R_RPS CREATE_256_P99=$R_P99
echo "  the same, 256 connections: $(fmt_int "$R_RPS") creates/s  p50 $R_P50 ms  p99 $R_P99 ms"
echo "    CPU: $R_CPU"
rm -rf "$TMP/create-data"
create_run "$TMP/create-empty" create-empty
CREATE_EMPTY_RPS=$R_RPS
echo "  into an empty store:   $(fmt_int "$R_RPS") creates/s  p50 $R_P50 ms  p99 $R_P99 ms  max $R_MAX ms"
echo "    CPU: $R_CPU"
rm -rf "$TMP/create-empty"

# ---------------------------------------------------------------- summary
row() {
  awk -v name="$1" -v v="$2" -v unit="$3" -v op="$4" -v t="$5" "$AWK_COMMAS"' BEGIN {
    val = commas(v)
    if (op == "-") { printf "  %-46s %17s %-6s %-18s %6s  %s\n", name, val, unit, "(report only)", "", ""; exit }
    tv = commas(t)
    met = (op == "<") ? v < t : (op == "<=") ? v <= t : v >= t
    printf "  %-46s %17s %-6s %-18s %6.2f  %s\n", name, val, unit, op " " tv " " unit, t ? v / t : 0, met ? "yes" : "NO"
  }'
}
echo
echo "== Summary ($(fmt_int "$LOADED") resources, seed $SEED, $CLONES clones; kiln --threads $KILN_THREADS;"\
  "wrk on the same $(nproc) cores; ratio = value / target)"
printf '  %-46s %17s %-6s %-18s %6s  %s\n' "Figure" "Value" "" "Target" "Ratio" "Met"
row "0. Loading by PUT (node client)$( ((REUSED)) && echo ', earlier load')" "$LOAD_RATE" res/s "-" ""
row "   search index per resource (idx_* pages)" "$INDEX_BPR" B "-" ""
row "   resource tables per resource" "$RES_BPR" B "-" ""
row "   data directory per resource (files)" "$FILE_BPR" B "-" ""
row "   data directory size" "$DISK_MB" MB "-" ""
row "1. Observation?patient&code&date, p50 (1 conn)" "${LAT[obs-c1-p50]}" ms "<=" "$T_P50_MS"
row "   p99 (1 conn)" "${LAT[obs-c1-p99]}" ms "<=" "$T_P99_MS"
row "   p50 / p99 ($CONNECTIONS conns)" "${LAT[obs-c32-p50]} / ${LAT[obs-c32-p99]}" ms "-" ""
row "   req/s ($CONNECTIONS conns)" "${LAT[obs-c32-rps]}" req/s "-" ""
row "2. Patient?family&birthdate, p50 (1 conn)" "${LAT[pat-c1-p50]}" ms "<=" "$T_P50_MS"
row "   p99 (1 conn)" "${LAT[pat-c1-p99]}" ms "<=" "$T_P99_MS"
row "   p50 / p99 ($CONNECTIONS conns)" "${LAT[pat-c32-p50]} / ${LAT[pat-c32-p99]}" ms "-" ""
row "   req/s ($CONNECTIONS conns)" "${LAT[pat-c32-rps]}" req/s "-" ""
row "3. Search mix ($CONNECTIONS conns)" "$MIX_RPS" req/s ">=" "$T_MIX_RPS"
row "   p50 / p99" "$MIX_P50 / $MIX_P99" ms "-" ""
row "4. Observation?_summary=count, counted" "$COUNT_RATE" res/s ">=" "$T_COUNT_PER_S"
row "   time for $(fmt_int "$COUNT_TOTAL") Observations" "$COUNT_MS" ms "-" ""
row "5. Paging _count=1000, delivered" "$PAGE_RATE" res/s ">=" "$T_PAGE_PER_S"
row "6. Create (POST, $CONNECTIONS conns), loaded store" "$CREATE_RPS" res/s ">=" "$T_CREATE_PER_S"
row "   p99" "$CREATE_P99" ms "-" ""
row "   first ${DURATION} s after opening the store" "$CREATE_FIRST_RPS" res/s "-" ""
row "   256 conns (bigger group commits)" "$CREATE_256_RPS" res/s "-" ""
row "   p99 (256 conns)" "$CREATE_256_P99" ms "-" ""
row "   into an empty store" "$CREATE_EMPTY_RPS" res/s "-" ""
if ((${#WARNINGS[@]})); then
  echo
  echo "  Warnings:"
  printf '    - %s\n' "${WARNINGS[@]}"
fi
exit 0
