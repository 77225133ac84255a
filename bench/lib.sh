# Shell helpers shared by the bench/*.sh scripts (sourced, not run). They expect the sourcing
# script to define die and warn (and ROOT and BUILD_DIR for build_binaries), and to keep the PIDs
# it started in the array PIDS (bench_setup makes it).
# Settings a script may set before calling: READY_TRIES (wait_ready: tries 20 ms apart, default
# 500 = 10 s) and STOP_TRIES (stop_pid: tries 50 ms apart before SIGKILL, default 200 = 10 s).

# A free loopback port below the ephemeral range (wrk's client ports live there).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# wait_ready PID PORT: until GET /healthz answers 200 (READY_TRIES x 20 ms).
wait_ready() {
  local pid=$1 port=$2
  for _ in $(seq 1 "${READY_TRIES:-500}"); do
    kill -0 "$pid" 2>/dev/null || return 1
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/healthz" \
         2>/dev/null) == 200 ]] && return 0
    sleep 0.02
  done
  return 1
}

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM, then SIGKILL if it has not ended after STOP_TRIES x 50 ms.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "${STOP_TRIES:-200}"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Share of both cores busy over one second, in percent (from /proc/stat).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0}'
}

# wait_quiet MAX_SECONDS: wait for other work on the machine to settle (CPU < 15% busy over a
# second); sets QUIET_BUSY and warns when it did not settle in time. 0 does not wait at all.
wait_quiet() {
  QUIET_BUSY=0
  ((${1} > 0)) || return 0
  local busy waited=0
  busy=$(cpu_busy_pct)
  if ((busy >= 15)); then
    printf '  waiting for the machine to quieten (%d%% CPU busy with other work)...' "$busy"
    while ((busy >= 15 && waited < $1)); do
      busy=$(cpu_busy_pct)
      waited=$((waited + 1))
    done
    ((busy < 15)) && echo " quiet after ${waited} s" || echo " still ${busy}% after ${waited} s"
  fi
  ((busy < 15)) || warn "other work was using ${busy}% of the CPU when a measurement started"
  QUIET_BUSY=$busy
}

# Integers with thousands separators (non-numbers pass through).
AWK_COMMAS='function commas(x,   i, out) {
  if (x !~ /^-?[0-9]+(\.[0-9]*)?$/ || x < 1000) return x
  i = sprintf("%d", x + 0.5); out = ""
  while (length(i) > 3) { out = "," substr(i, length(i) - 2) out; i = substr(i, 1, length(i) - 3) }
  return i out
}'
fmt_int() { awk -v x="$1" "$AWK_COMMAS"' BEGIN {print commas(x)}'; }

# bench_setup NAME: a temporary directory in TMP (kiln-NAME.XXXXXX), an empty PIDS, and traps
# that, however the script ends, stop every PID in PIDS and its children (wrk runs inside a
# subshell that times it), wait for them, and remove TMP.
bench_setup() {
  TMP=$(mktemp -d -t "kiln-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}

# build_binaries PATH...: builds the CMake targets named by the binaries' file names in BUILD_DIR
# (configured as a Release Ninja build first if it is not configured yet; logs in TMP), or with
# BENCH_SKIP_BUILD=1 only checks that they exist. Sets BUILD_TYPE (CMAKE_BUILD_TYPE) and notes one
# other than Release.
build_binaries() {
  local bin targets=()
  for bin in "$@"; do targets+=("$(basename "$bin")"); done
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    echo "== Not building (BENCH_SKIP_BUILD=1): using ${targets[*]} in $BUILD_DIR"
    for bin in "$@"; do [[ -x $bin ]] || die "$bin is missing"; done
  else
    echo "== Building ${targets[*]} in $BUILD_DIR"
    if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
      cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$TMP/configure.log" 2>&1 ||
        { tail -20 "$TMP/configure.log"; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" --target "${targets[@]}" >"$TMP/build.log" 2>&1 ||
      { tail -30 "$TMP/build.log"; die "build failed"; }
  fi
  BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD_DIR/CMakeCache.txt")
  [[ $BUILD_TYPE == Release ]] || echo "  note: $BUILD_DIR is a '$BUILD_TYPE' build, not Release"
}
