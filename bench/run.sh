#!/usr/bin/env bash
# Kiln benchmarks: start-up time, memory, read and create throughput, and the plain-HTTP ceiling
# on the same machine. Prints a report and a summary table; see bench/README.md.
#
# Usage: bench/run.sh [BUILD_DIR]            (what `make bench` runs; BUILD_DIR defaults to build)
# Settings (environment):
#   BENCH_KILN_THREADS   kiln --threads and bare_responder threads (default 2, see README)
#   BENCH_DURATION       seconds of each main wrk run (default 10)
#   BENCH_LOG_DURATION   seconds of the access-log-on read run (default 5)
#   BENCH_AUTH_DURATION  seconds of each of the three auth read runs (default 5)
#   BENCH_WARMUP         seconds of unreported warm-up before each read run (default 2)
#   BENCH_VERBOSE=1      also print wrk's own output
#   BENCH_SKIP_BUILD=1   use the binaries already in BUILD_DIR (e.g. while the tree does not build)
#
# It is a benchmark, not a test: it exits 0 when everything ran, whatever the figures, and 1
# when something could not run (build failed, server did not start, loading failed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$PWD/$BUILD_DIR

KILN_THREADS=${BENCH_KILN_THREADS:-2}
DURATION=${BENCH_DURATION:-10}
LOG_DURATION=${BENCH_LOG_DURATION:-5}
WARMUP=${BENCH_WARMUP:-2}
VERBOSE=${BENCH_VERBOSE:-0}
CONNECTIONS=32
WRK_THREADS=2
IDS=1000            # Patients p0..p999 loaded before the read run
STARTUP_RUNS=5

# Targets (see bench/README.md).
T_STARTUP_MS=200
T_IDLE_RSS_MB=50
T_READ_RPS=40000
T_READ_P99_MS=2
T_CEILING_RATIO=0.6
T_CREATE_RPS=5000

KILN=$BUILD_DIR/kiln
BARE=$BUILD_DIR/bench/bare_responder
PROBE=$BUILD_DIR/bench/startup_probe
LUA=$ROOT/bench/lua

die() { echo "bench: $*" >&2; exit 1; }
warn() { echo "  WARNING: $*"; WARNINGS+=("$*"); }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WARNINGS=()

for tool in wrk curl awk pkill node; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done

# ---------------------------------------------------------------- clean-up of what we start
bench_setup bench

# ---------------------------------------------------------------- build
build_binaries "$KILN" "$BARE" "$PROBE"

# ---------------------------------------------------------------- helpers (more in bench/lib.sh)
# start_kiln DATA_DIR ACCESS_LOG(true|false) NAME [EXTRA FLAGS...]: sets KPID and KPORT.
start_kiln() {
  KPORT=$(free_port)
  "$KILN" serve --port "$KPORT" --data "$1" --access-log "$2" --threads "$KILN_THREADS" "${@:4}" \
    >"$TMP/$3.out" 2>"$TMP/$3.log" &
  KPID=$!
  PIDS+=("$KPID")
  wait_ready "$KPID" "$KPORT" || { tail -5 "$TMP/$3.log"; die "kiln ($3) did not become ready"; }
}

status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# run_wrk NAME SCRIPT SECONDS URL PID: runs wrk, sets R_RPS R_P50 R_P90 R_P99 R_MAX (ms),
# R_NON2XX R_ERR R_REQS, R_CPU (cores used by PID, by wrk and by everything else during the run)
# and R_REQS_TOTAL (requests over all attempts). When other work used more than 0.15 of a core
# during the run, it waits for quiet and measures once more, if the run is young enough
# (RETRY_BEFORE_S seconds since the script started) to stay within its time budget.
RETRY_BEFORE_S=100
run_wrk() {
  local name=$1 script=$2 secs=$3 url=$4 pid=$5 attempt=${6:-1} t0 t1 all0 all1 wrk_cpu line
  ((attempt > 1)) || R_REQS_TOTAL=0
  t0=$(cpu_ticks "$pid")
  all0=$(busy_ticks)
  # In the background and waited for, so that Ctrl-C or SIGTERM stops the script at once (bash
  # runs traps only after a foreground command ends); `time` gives wrk's own CPU use.
  local TIMEFORMAT='%U %S' wrk_job
  { time wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency \
      -s "$LUA/$script" "$url" >"$TMP/$name.wrk" 2>&1; } 2>"$TMP/$name.time" &
  wrk_job=$!
  PIDS+=("$wrk_job")
  wait "$wrk_job" || { cat "$TMP/$name.wrk"; die "wrk ($name) failed"; }
  forget_pid "$wrk_job"
  t1=$(cpu_ticks "$pid")
  all1=$(busy_ticks)
  [[ $VERBOSE == 1 ]] && sed 's/^/    | /' "$TMP/$name.wrk"
  line=$(grep '^BENCH ' "$TMP/$name.wrk") || { cat "$TMP/$name.wrk"; die "no result from wrk ($name)"; }
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  R_RPS=$(get rps)
  R_P50=$(awk -v u="$(get p50_us)" 'BEGIN {printf "%.2f", u / 1000}')
  R_P90=$(awk -v u="$(get p90_us)" 'BEGIN {printf "%.2f", u / 1000}')
  R_P99=$(awk -v u="$(get p99_us)" 'BEGIN {printf "%.2f", u / 1000}')
  R_MAX=$(awk -v u="$(get max_us)" 'BEGIN {printf "%.2f", u / 1000}')
  R_NON2XX=$(get non2xx)
  R_ERR=$(get socket_errors)
  R_REQS=$(get requests)
  R_REQS_TOTAL=$((R_REQS_TOTAL + R_REQS))
  wrk_cpu=$(awk '{print $1 + $2}' "$TMP/$name.time")
  R_CPU=$(awk -v k="$((t1 - t0))" -v all="$((all1 - all0))" -v hz="$(getconf CLK_TCK)" \
    -v w="$wrk_cpu" -v s="$secs" 'BEGIN {o = (all - k) / hz / s - w / s; if (o < 0) o = 0
    printf "server %.2f cores, wrk %.2f cores, everything else %.2f cores", k / hz / s, w / s, o}')
  local others=${R_CPU##*else }
  others=${others% cores}
  if [[ $name != *warmup ]] && awk -v o="$others" 'BEGIN {exit !(o > 0.15)}'; then
    if ((attempt == 1 && SECONDS < RETRY_BEFORE_S)); then
      echo "  other work used $others cores during this run ($(fmt_int "$R_RPS") req/s); measuring again"
      wait_quiet 15
      run_wrk "$name" "$script" "$secs" "$url" "$pid" 2
      return
    fi
    warn "$name: other work used $others cores during the run; its figures are not reliable"
  fi
  ((R_NON2XX == 0)) || warn "$name: $R_NON2XX responses were not 2xx/3xx"
  ((R_ERR == 0)) || warn "$name: $R_ERR socket errors (connect/read/write/timeout)"
}

# awk helper: commas(12345.6) -> "12,346" for values >= 1000, the value unchanged below.

metric() {  # metric PORT 'name{labels}' -> value or 0
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v k="$2" '$1 == k {v = $2} END {print v + 0}'
}

# ---------------------------------------------------------------- context
echo
echo "== Machine"
echo "  $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)),"\
  "$(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
echo "  kiln $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)'), $BUILD_TYPE build"
echo "  load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  kiln and wrk share the machine: kiln --threads $KILN_THREADS, wrk -t$WRK_THREADS -c$CONNECTIONS"
wait_quiet 60
echo "  CPU busy with other work just before measuring: ${QUIET_BUSY}%"

# ---------------------------------------------------------------- 1, 2: start-up and idle RSS
echo
echo "== 1, 2. Start-up to first answered GET /healthz, and idle RSS ($STARTUP_RUNS runs, fresh data dir each)"
startup=()
rss=()
for i in $(seq 1 "$STARTUP_RUNS"); do
  port=$(free_port)
  out=$("$PROBE" "$port" 250 10000 "$KILN" serve --port "$port" --data "$TMP/startup-$i" \
          --access-log false --threads "$KILN_THREADS") || die "kiln did not start (run $i)"
  ms=$(sed -n 's/.*startup_ms=\([^ ]*\).*/\1/p' <<<"$out")
  kb=$(sed -n 's/.*rss_kb=\([^ ]*\).*/\1/p' <<<"$out")
  startup+=("$ms")
  rss+=("$kb")
  echo "  run $i: ${ms} ms to first 200, VmRSS $(mb "$kb") MB 250 ms later"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
STARTUP_MS=$(median "${startup[@]}")
IDLE_RSS_MB=$(mb "$(median "${rss[@]}")")
echo "  median: $STARTUP_MS ms, idle RSS $IDLE_RSS_MB MB"

# ---------------------------------------------------------------- load the Patients
DATA=$TMP/data
start_kiln "$DATA" false kiln-nolog
echo
echo "== Loading $IDS Patients p0..p$((IDS - 1)) with PUT (about 330 bytes each, --sync full)"
body='{"resourceType":"Patient","id":"ID","active":true,'\
'"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],'\
'"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work"}],'\
'"gender":"male","birthDate":"1974-12-25",'\
'"address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille",'\
'"state":"Vic","postalCode":"3999"}]}'
esc=${body//\"/\\\"}
for ((i = 0; i < IDS; i++)); do
  ((i == 0)) || echo next
  printf 'url = "http://127.0.0.1:%s/fhir/Patient/p%d"\nrequest = "PUT"\n' "$KPORT" "$i"
  printf 'header = "Content-Type: application/fhir+json"\ndata = "%s"\n' "${esc//ID/p$i}"
  printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
done >"$TMP/load.curl"
load_start=$(date +%s%N)
curl -s --parallel --parallel-max "$CONNECTIONS" -K "$TMP/load.curl" >"$TMP/load.codes" 2>/dev/null || true
load_ms=$((($(date +%s%N) - load_start) / 1000000))
created=$(grep -c '^201$' "$TMP/load.codes" || true)
((created == IDS)) || { sort "$TMP/load.codes" | uniq -c; die "loading failed: $created of $IDS PUTs answered 201"; }
echo "  $IDS x 201 Created in $load_ms ms (curl, $CONNECTIONS in parallel)"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KPORT/fhir/Patient/p$((IDS - 1))") == 200 ]] ||
  die "GET Patient/p$((IDS - 1)) after loading did not answer 200"

# ---------------------------------------------------------------- 3: read by id, access log off
echo
echo "== 3. Read by id: GET /fhir/Patient/p<random 0..$((IDS - 1))>, keep-alive, $CONNECTIONS connections, ${DURATION} s"
echo "  kiln --access-log false --threads $KILN_THREADS (warm-up ${WARMUP} s not counted)"
wait_quiet 15
((WARMUP > 0)) && run_wrk read-warmup read.lua "$WARMUP" "http://127.0.0.1:$KPORT" "$KPID"
run_wrk read read.lua "$DURATION" "http://127.0.0.1:$KPORT" "$KPID"
READ_RPS=$R_RPS READ_P50=$R_P50 READ_P90=$R_P90 READ_P99=$R_P99
echo "  $(fmt_int "$READ_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"\
  " ($(fmt_int "$R_REQS") requests, $R_NON2XX non-2xx, $R_ERR socket errors)"
echo "  CPU: $R_CPU"

# ---------------------------------------------------------------- 5: create
echo
echo "== 5. Create: POST /fhir/Patient (about 330 bytes), $CONNECTIONS connections, ${DURATION} s, --sync full (default)"
echo "  same kiln process (--access-log false)"
wait_quiet 15
key='kiln_http_requests_total{interaction="create",code="201"}'
before=$(metric "$KPORT" "$key")
run_wrk create create.lua "$DURATION" "http://127.0.0.1:$KPORT" "$KPID"
after=$(metric "$KPORT" "$key")
CREATE_RPS=$R_RPS
CREATED=$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%d", a - b}')
echo "  $(fmt_int "$CREATE_RPS") creates/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"\
  " ($R_NON2XX non-2xx, $R_ERR socket errors)"
echo "  /metrics counts $(fmt_int "$CREATED") new 201 Created for $(fmt_int "$R_REQS_TOTAL") requests wrk completed"
((CREATED >= R_REQS_TOTAL)) || warn "create: only $CREATED of $R_REQS_TOTAL requests answered 201"
echo "  CPU: $R_CPU"

# ---------------------------------------------------------------- 6: peak RSS
PEAK_RSS_MB=$(mb "$(status_kb "$KPID" VmHWM)")
NOW_RSS_MB=$(mb "$(status_kb "$KPID" VmRSS)")
echo
echo "== 6. Memory of kiln after the read and create runs"
echo "  VmHWM (peak RSS) $PEAK_RSS_MB MB, VmRSS now $NOW_RSS_MB MB"
stop_pid "$KPID"

# read_logged NAME ACCESS_LOG [KILN ARGS...]: read by id for LOG_DURATION s on a kiln started with
# those logging settings (3b, 3c); prints the figures, leaves them in R_*, and the server running.
read_logged() {
  local name=$1 access_log=$2
  start_kiln "$DATA" "$access_log" "kiln-$name" "${@:3}"
  wait_quiet 15
  ((WARMUP > 0)) && run_wrk "read$name-warmup" read.lua "$WARMUP" "http://127.0.0.1:$KPORT" "$KPID"
  run_wrk "read$name" read.lua "$LOG_DURATION" "http://127.0.0.1:$KPORT" "$KPID"
  echo "  $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"\
    " ($R_NON2XX non-2xx, $R_ERR socket errors)"
  echo "  CPU: $R_CPU"
}

# ---------------------------------------------------------------- 3b: read by id, access log on
echo
echo "== 3b. Read by id again with the access log ON (JSON lines to a file), ${LOG_DURATION} s"
read_logged log true
LOG_RPS=$R_RPS LOG_P99=$R_P99
echo "  access log: $(awk 'END {print NR}' "$TMP/kiln-log.log") lines,"\
  "$(du -m "$TMP/kiln-log.log" | cut -f1) MB"
stop_pid "$KPID"

# ---------------------------------------------------------------- 3c: read by id, audit log on
echo
echo "== 3c. Read by id again with the audit log ON (--audit-log, hash-chained), ${LOG_DURATION} s"
read_logged audit false --audit-log "$TMP/audit.log"
AUDIT_RPS=$R_RPS AUDIT_P99=$R_P99
stop_pid "$KPID"
echo "  audit log: $(du -m "$TMP/audit.log" | cut -f1) MB; $("$KILN" audit verify "$TMP/audit.log" | head -1)"

# ---------------------------------------------------------------- 5b: create, validation on vs off
# The cost of validation: the same create load against kilns that validate (default) and that
# store without validating (--validation off, a benchmark-only mode). Create throughput falls as
# the database grows, so every run gets a fresh data directory, and the two modes alternate.
VAL_DURATION=${BENCH_VAL_DURATION:-5}
echo
echo "== 5b. Create with validation on vs off: fresh data dir per run, alternating, ${VAL_DURATION} s each"
VAL_ON=() VAL_OFF=()
for round in 1 2 3; do
  for mode in enforce off; do
    dir="$TMP/data-val-$mode-$round"
    mkdir -p "$dir"
    start_kiln "$dir" false "kiln-val-$mode-$round" --validation "$mode"
    wait_quiet 15
    run_wrk "create-$mode-$round" create.lua "$VAL_DURATION" "http://127.0.0.1:$KPORT" "$KPID"
    ((R_NON2XX == 0)) || warn "create with --validation $mode: $R_NON2XX non-2xx answers"
    if [[ $mode == enforce ]]; then VAL_ON+=("$R_RPS"); else VAL_OFF+=("$R_RPS"); fi
    echo "  round $round, --validation $mode: $(fmt_int "$R_RPS") creates/s  p99 $R_P99 ms"
    stop_pid "$KPID"
  done
done
VALON_RPS=$(median "${VAL_ON[@]}")
NOVAL_RPS=$(median "${VAL_OFF[@]}")
echo "  median: validation on $(fmt_int "$VALON_RPS")/s, off $(fmt_int "$NOVAL_RPS")/s"

# ---------------------------------------------------------------- 4: HTTP ceiling
echo
echo "== 4. HTTP ceiling: bare_responder (plain Beast, fixed 2 KB body, $KILN_THREADS threads), same wrk command"
BPORT=$(free_port)
"$BARE" "$BPORT" "$KILN_THREADS" >/dev/null 2>"$TMP/bare.log" &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 1 250); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BPORT/" 2>/dev/null) == 200 ]] && break
  kill -0 "$BPID" 2>/dev/null || die "bare_responder exited: $(cat "$TMP/bare.log")"
  sleep 0.02
done
wait_quiet 15
((WARMUP > 0)) && run_wrk bare-warmup read.lua "$WARMUP" "http://127.0.0.1:$BPORT" "$BPID"
run_wrk bare read.lua "$DURATION" "http://127.0.0.1:$BPORT" "$BPID"
BARE_RPS=$R_RPS
echo "  $(fmt_int "$BARE_RPS") req/s  p50 $R_P50 ms  p90 $R_P90 ms  p99 $R_P99 ms  max $R_MAX ms"
echo "  CPU: $R_CPU"
stop_pid "$BPID"

# ---------------------------------------------------------------- 7: read by id with SMART auth
# Issue 6: authentication and authorization cost under 10% of read throughput. The same reads of
# Observations (all in Patient/p0's compartment) without auth, with a system/*.rs RS256 token and
# with a patient/*.rs token for p0 (each read also checks the Observation is in p0's compartment).
# Tokens come from the test authorization server (bench/auth_server.mjs, a real oidc-provider);
# each run reuses one token on every request, as a client does, so kiln's verified-token cache
# answers after the first signature check.
AUTH_DURATION=${BENCH_AUTH_DURATION:-5}
AUTH_BASE=http://kiln.bench/fhir
echo
echo "== 7. Read by id with SMART auth: GET /fhir/Observation/o<random 0..$((IDS - 1))>, ${AUTH_DURATION} s each"
start_kiln "$DATA" false kiln-auth-none --base-url "$AUTH_BASE"
for ((i = 0; i < IDS; i++)); do
  ((i == 0)) || echo next
  printf 'url = "http://127.0.0.1:%s/fhir/Observation/o%d"\nrequest = "PUT"\n' "$KPORT" "$i"
  printf 'header = "Content-Type: application/fhir+json"\n'
  printf 'data = "{\\"resourceType\\":\\"Observation\\",\\"id\\":\\"o%d\\",\\"status\\":\\"final\\",' "$i"
  printf '\\"code\\":{\\"text\\":\\"weight\\"},\\"subject\\":{\\"reference\\":\\"Patient/p0\\"},'
  printf '\\"valueQuantity\\":{\\"value\\":%d,\\"unit\\":\\"kg\\"}}"\n' "$((50 + i % 50))"
  printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
done >"$TMP/load-obs.curl"
curl -s --parallel --parallel-max "$CONNECTIONS" -K "$TMP/load-obs.curl" >"$TMP/load-obs.codes" 2>/dev/null || true
created=$(grep -c '^201$' "$TMP/load-obs.codes" || true)
((created == IDS)) || { sort "$TMP/load-obs.codes" | uniq -c; die "loading Observations failed: $created of $IDS PUTs answered 201"; }
echo "  $IDS Observations o0..o$((IDS - 1)) (subject Patient/p0) loaded"
export BENCH_TYPE=Observation BENCH_PREFIX=o BENCH_IDS=$IDS BENCH_TOKEN=
wait_quiet 15
((WARMUP > 0)) && run_wrk auth-none-warmup read.lua "$WARMUP" "http://127.0.0.1:$KPORT" "$KPID"
run_wrk auth-none read.lua "$AUTH_DURATION" "http://127.0.0.1:$KPORT" "$KPID"
AUTH_NONE_RPS=$R_RPS
echo "  --auth none:                    $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p99 $R_P99 ms ($R_NON2XX non-2xx)"
stop_pid "$KPID"

node "$ROOT/bench/auth_server.mjs" "$AUTH_BASE" >"$TMP/auth-server.env" 2>"$TMP/auth-server.log" &
APID=$!
PIDS+=("$APID")
for _ in $(seq 1 500); do
  grep -q '^READY=1$' "$TMP/auth-server.env" 2>/dev/null && break
  kill -0 "$APID" 2>/dev/null || { cat "$TMP/auth-server.log"; die "the authorization server exited"; }
  sleep 0.02
done
grep -q '^READY=1$' "$TMP/auth-server.env" || die "the authorization server did not start"
ISSUER=$(sed -n 's/^ISSUER=//p' "$TMP/auth-server.env")
TOKEN_SYSTEM=$(sed -n 's/^TOKEN_SYSTEM=//p' "$TMP/auth-server.env")
TOKEN_PATIENT=$(sed -n 's/^TOKEN_PATIENT=//p' "$TMP/auth-server.env")
start_kiln "$DATA" false kiln-auth-smart --base-url "$AUTH_BASE" --auth smart --auth-issuer "$ISSUER"
for t in "$TOKEN_SYSTEM" "$TOKEN_PATIENT"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" \
    "http://127.0.0.1:$KPORT/fhir/Observation/o0")
  [[ $code == 200 ]] || die "a read with a bench token answered $code, not 200 ($TMP/kiln-auth-smart.log)"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KPORT/fhir/Observation/o0")
[[ $code == 401 ]] || die "a read without a token answered $code, not 401: kiln is not checking tokens"
for kind in system patient; do
  if [[ $kind == system ]]; then BENCH_TOKEN=$TOKEN_SYSTEM; else BENCH_TOKEN=$TOKEN_PATIENT; fi
  export BENCH_TOKEN
  wait_quiet 15
  ((WARMUP > 0)) && run_wrk "auth-$kind-warmup" read.lua "$WARMUP" "http://127.0.0.1:$KPORT" "$KPID"
  run_wrk "auth-$kind" read.lua "$AUTH_DURATION" "http://127.0.0.1:$KPORT" "$KPID"
  ((R_NON2XX == 0)) || warn "auth-$kind: $R_NON2XX answers were not 2xx (the token was refused?)"
  if [[ $kind == system ]]; then
    AUTH_SYSTEM_RPS=$R_RPS
    echo "  --auth smart, system/*.rs RS256: $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p99 $R_P99 ms ($R_NON2XX non-2xx)"
  else
    AUTH_PATIENT_RPS=$R_RPS
    echo "  --auth smart, patient/*.rs (p0): $(fmt_int "$R_RPS") req/s  p50 $R_P50 ms  p99 $R_P99 ms ($R_NON2XX non-2xx)"
  fi
done
unset BENCH_TOKEN
stop_pid "$KPID"
stop_pid "$APID"
AUTH_SYSTEM_RATIO=$(awk -v a="$AUTH_SYSTEM_RPS" -v b="$AUTH_NONE_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')
AUTH_PATIENT_RATIO=$(awk -v a="$AUTH_PATIENT_RPS" -v b="$AUTH_NONE_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')
echo "  auth / no auth: system token ${AUTH_SYSTEM_RATIO}x, patient token ${AUTH_PATIENT_RATIO}x (target >= 0.9)"

# ---------------------------------------------------------------- summary
CEILING_RATIO=$(awk -v a="$READ_RPS" -v b="$BARE_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')
VALIDATION_RATIO=$(awk -v a="$VALON_RPS" -v b="$NOVAL_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')
LOG_RATIO=$(awk -v a="$LOG_RPS" -v b="$READ_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')
AUDIT_RATIO=$(awk -v a="$AUDIT_RPS" -v b="$READ_RPS" 'BEGIN {printf "%.3f", b ? a / b : 0}')

# row NAME VALUE UNIT TARGET_OP TARGET: "Met" is judged from the op (<, <=, >=, or - for none).
row() {
  awk -v name="$1" -v v="$2" -v unit="$3" -v op="$4" -v t="$5" "$AWK_COMMAS"' BEGIN {
    val = commas(v)
    if (op == "-") { printf "  %-44s %12s %-6s %-14s %6s  %s\n", name, val, unit, "(report only)", "", ""; exit }
    tv = commas(t)
    met = (op == "<") ? v < t : (op == "<=") ? v <= t : v >= t
    printf "  %-44s %12s %-6s %-14s %6.2f  %s\n", name, val, unit, op " " tv " " unit, t ? v / t : 0, met ? "yes" : "NO"
  }'
}

echo
echo "== Summary (kiln --threads $KILN_THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS on the same $(nproc) cores;"\
  "ratio = value / target)"
printf '  %-44s %12s %-6s %-14s %6s  %s\n' "Figure" "Value" "" "Target" "Ratio" "Met"
row "1. Start-up to first 200 (median of $STARTUP_RUNS)" "$STARTUP_MS" ms "<" "$T_STARTUP_MS"
row "2. Idle RSS after start-up (median)" "$IDLE_RSS_MB" MB "<" "$T_IDLE_RSS_MB"
row "3. Read by id, access log off" "$READ_RPS" req/s ">=" "$T_READ_RPS"
row "   p50 latency" "$READ_P50" ms "-" ""
row "   p99 latency" "$READ_P99" ms "<=" "$T_READ_P99_MS"
row "3b. Read by id, access log on" "$LOG_RPS" req/s "-" ""
row "   p99 latency, access log on" "$LOG_P99" ms "-" ""
row "   log on / log off throughput" "$LOG_RATIO" x "-" ""
row "3c. Read by id, audit log on" "$AUDIT_RPS" req/s "-" ""
row "   p99 latency, audit log on" "$AUDIT_P99" ms "-" ""
row "   audit on / off throughput" "$AUDIT_RATIO" x "-" ""
row "4. HTTP ceiling (bare_responder)" "$BARE_RPS" req/s "-" ""
row "   Kiln read / ceiling" "$CEILING_RATIO" x ">=" "$T_CEILING_RATIO"
row "5. Create, durable (--sync full)" "$CREATE_RPS" req/s ">=" "$T_CREATE_RPS"
row "5b. Create, validation on (median of 3)" "$VALON_RPS" req/s "-" ""
row "    Create, validation off (median of 3)" "$NOVAL_RPS" req/s "-" ""
row "   validation on / off throughput" "$VALIDATION_RATIO" x ">=" "0.9"
row "6. Peak RSS after load (VmHWM)" "$PEAK_RSS_MB" MB "-" ""
row "7. Read Observation by id, --auth none" "$AUTH_NONE_RPS" req/s "-" ""
row "   --auth smart, system/*.rs RS256 token" "$AUTH_SYSTEM_RPS" req/s "-" ""
row "   --auth smart, patient/*.rs token" "$AUTH_PATIENT_RPS" req/s "-" ""
row "   system token / no auth" "$AUTH_SYSTEM_RATIO" x ">=" "0.9"
row "   patient token / no auth" "$AUTH_PATIENT_RATIO" x ">=" "0.9"
if ((${#WARNINGS[@]})); then
  echo
  echo "  Warnings:"
  printf '    - %s\n' "${WARNINGS[@]}"
fi
exit 0
