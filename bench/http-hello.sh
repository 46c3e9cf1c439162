#!/usr/bin/env bash
# Hello-world HTTP benchmark: Pyrosome vs a Node.js `http` hello world,
# measured side by side in one run with wrk (closed loop, keep-alive) and,
# if oha is installed, a constant-rate (open-loop) run with latency correction.
#
#   bench/http-hello.sh                  # full run, ~4-5 minutes
#   ROUNDS=1 DURATION=3 bench/http-hello.sh   # quick smoke run
#   ENGINES="quickjs v8" bench/http-hello.sh  # Pyrosome on both engines + Node
#   WORKLOAD=two bench/http-hello.sh          # two services: front calls back
#
# WORKLOAD picks what the servers do:
#   hello - answer "Hello, world!" (Pyrosome: bench/apps/hello-http; Node:
#           bench/node/hello.js, one process);
#   two   - a front service calls a back service and answers with its result
#           as JSON (Pyrosome: bench/apps/two-services, one process; Node: two
#           processes, bench/node/two-front.js calling bench/node/two-back.js
#           over HTTP/JSON with a keep-alive agent, both pinned to the server
#           CPU in the pinned configuration; CPU is summed over both).
#
# ENGINES lists the JavaScript engines Pyrosome is run with (`serve --engine`);
# each is one server of the comparison. With v8 among them the binary is built
# with `--features v8` (scripts/setup-v8.sh must have been run).
#
# Two configurations:
#   pinned   - load generator on CPU $LG_CPU, server on CPU $SERVER_CPU;
#              Pyrosome with --workers 1 (its HTTP gateway thread shares the
#              same CPU), Node single process.
#   unpinned - nothing pinned; Pyrosome with --workers $UNPINNED_WORKERS
#              (default: nproc), Node single process (Node runs JavaScript on
#              one thread; that is its standard single-service deployment).
#
# In each configuration the servers alternate (P,N / N,P / P,N ...; with two
# engines: Q,V,N / N,V,Q / Q,V,N ...); each
# measured run gets a fresh server process and a warm-up run first. The
# script prints a markdown report and writes it to $OUT, every closed-loop
# run to ${OUT%.md}.csv, and a chart of req/s and CPU per request per
# configuration (bench/charts) to ${OUT%.md}.svg.
#
# Environment knobs (defaults in brackets):
#   WORKLOAD [hello | two]
#   ROUNDS [3] DURATION [10] WARMUP [3] CONNS [50] WRK_THREADS [1]
#   LG_CPU [0] SERVER_CPU [1] UNPINNED_WORKERS [nproc] CONFIGS ["pinned unpinned"]
#   OPEN_LOOP [auto: use oha if installed | install: cargo install oha | 0: skip]
#   OPEN_DURATION [5] OPEN_WARMUP [2] OPEN_FRACTION [40 = % of the slower
#   server's median closed-loop throughput in that configuration]
#   ENGINES ["quickjs"; "quickjs v8" compares both engines]
#   OUT [bench/results/http-$WORKLOAD.md]
#   PYROSOME_BIN [unset: cargo build --release and use target/release/pyrosome;
#                 set: benchmark that binary instead, without building]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
LG_CPU=${LG_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
UNPINNED_WORKERS=${UNPINNED_WORKERS:-$(nproc)}
CONFIGS=${CONFIGS:-"pinned unpinned"}
OPEN_LOOP=${OPEN_LOOP:-auto}
OPEN_DURATION=${OPEN_DURATION:-5}
OPEN_WARMUP=${OPEN_WARMUP:-2}
OPEN_FRACTION=${OPEN_FRACTION:-40}
ENGINES=${ENGINES:-quickjs}
WORKLOAD=${WORKLOAD:-hello}
OUT=${OUT:-bench/results/http-$WORKLOAD.md}

case "$WORKLOAD" in
  hello) APP=bench/apps/hello-http; NODE_APP=bench/node/hello.js
         EXPECTED_BODY='Hello, world!'; TITLE="Hello-world HTTP" ;;
  two) APP=bench/apps/two-services; NODE_APP=bench/node/two-front.js
       EXPECTED_BODY='{"hello":"world","from":"back"}'; TITLE="Two services (front calls back, JSON answer)" ;;
  *) echo "[http-hello] WORKLOAD: unknown workload $WORKLOAD (hello or two)" >&2; exit 2 ;;
esac
TARGET_DIR=${CARGO_TARGET_DIR:-target}
PYROSOME=${PYROSOME_BIN:-$TARGET_DIR/release/pyrosome}

# The servers compared: Pyrosome on each engine, then Node.
SERVERS=()
FEATURES=()
for engine in $ENGINES; do
  case "$engine" in
    quickjs) ;;
    v8) FEATURES=(--features v8) ;;
    *) echo "[http-hello] ENGINES: unknown engine $engine (quickjs or v8)" >&2; exit 2 ;;
  esac
  SERVERS+=("pyrosome-$engine")
done
SERVERS+=(node)

COMMAND="${PYROSOME_BIN:+PYROSOME_BIN=$PYROSOME_BIN }WORKLOAD=$WORKLOAD ENGINES=\"$ENGINES\" ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS WRK_THREADS=$WRK_THREADS LG_CPU=$LG_CPU SERVER_CPU=$SERVER_CPU UNPINNED_WORKERS=$UNPINNED_WORKERS CONFIGS=\"$CONFIGS\" OPEN_LOOP=$OPEN_LOOP OPEN_DURATION=$OPEN_DURATION OPEN_WARMUP=$OPEN_WARMUP OPEN_FRACTION=$OPEN_FRACTION bench/http-hello.sh"

log() { printf '[http-hello] %s\n' "$*" >&2; }

TMP=$(mktemp -d /tmp/http-hello.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (Debian package)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2 ||
    { as_root apt-get update >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2; }
fi
command -v node >/dev/null 2>&1 || { log "node is required"; exit 1; }
command -v curl >/dev/null 2>&1 || { log "curl is required"; exit 1; }
command -v taskset >/dev/null 2>&1 || { log "taskset (util-linux) is required"; exit 1; }

OHA=""
[ -d "$HOME/.cargo/bin" ] && PATH="$PATH:$HOME/.cargo/bin"
case "$OPEN_LOOP" in
  0|no|skip) ;;
  install)
    command -v oha >/dev/null 2>&1 || { log "cargo install oha --locked (took ~8 min on a 2-core box)"; cargo install oha --locked >&2; }
    OHA=$(command -v oha) ;;
  *) OHA=$(command -v oha 2>/dev/null || true)
     [ -z "$OHA" ] && log "oha not installed: skipping the open-loop runs (OPEN_LOOP=install to build it)" ;;
esac

if [ -z "${PYROSOME_BIN:-}" ]; then
  log "cargo build --release ${FEATURES[*]:-}"
  cargo build --release "${FEATURES[@]}" >&2
  # Run a private copy: other builds in this tree may replace the binary mid-run.
  cp "$TARGET_DIR/release/pyrosome" "$TMP/pyrosome"
  PYROSOME="$TMP/pyrosome"
else
  log "using the prebuilt binary PYROSOME_BIN=$PYROSOME_BIN (no build)"
  [ -x "$PYROSOME_BIN" ] || { log "$PYROSOME_BIN is not executable"; exit 1; }
fi

# the revision that was built (taken now: the tree may move during the run)
if [ -n "${PYROSOME_BIN:-}" ]; then
  GIT_REV="prebuilt binary $PYROSOME_BIN ($("$PYROSOME_BIN" --version 2>/dev/null || echo 'no version'))"
else
  GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- src Cargo.toml Cargo.lock build.rs 2>/dev/null || GIT_REV="$GIT_REV (+ uncommitted changes in src/Cargo)"
fi

# ---------------------------------------------------------------- helpers
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# cpu_ticks PID: user+system clock ticks of the whole process (all threads).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
CLK_TCK=$(getconf CLK_TCK)

# to_ms VALUE_WITH_UNIT (wrk prints 850.00us, 3.99ms, 1.02s, 1.00m)
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000
    else if (v ~ /ms$/) n = n
    else if (v ~ /m$/) n = n * 60000
    else if (v ~ /s$/) n = n * 1000
    printf "%.3f", n }'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

SERVER_PID=""
BACK_PID=""
PORT=""
# start_server pyrosome-ENGINE|node CONFIG
start_server() {
  local which=$1 cfg=$2 pin=() url
  PORT=$(free_port)
  [ "$cfg" = pinned ] && pin=(taskset -c "$SERVER_CPU")
  if [ "$which" != node ]; then
    local workers=$UNPINNED_WORKERS
    [ "$cfg" = pinned ] && workers=1
    "${pin[@]}" "$PYROSOME" --log warn serve "$APP" --listen "127.0.0.1:$PORT" --workers "$workers" \
      --engine "${which#pyrosome-}" 2>>"$TMP/$which.log" &
    url="http://127.0.0.1:$PORT/healthz"
  else
    local back_port=""
    if [ "$WORKLOAD" = two ]; then
      back_port=$(free_port)
      "${pin[@]}" node bench/node/two-back.js "$back_port" 127.0.0.1 2>>"$TMP/node.log" &
      BACK_PID=$!
      PIDS+=("$BACK_PID")
    fi
    "${pin[@]}" node "$NODE_APP" "$PORT" 127.0.0.1 $back_port 2>>"$TMP/node.log" &
    url="http://127.0.0.1:$PORT/"
  fi
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 200); do
    if curl -sf -o /dev/null "$url"; then
      # the benchmark response must be right, or the numbers mean nothing
      local body
      body=$(curl -sf "http://127.0.0.1:$PORT/")
      [ "$body" = "$EXPECTED_BODY" ] || { log "$which: unexpected body: $body"; exit 1; }
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { log "$which exited during start-up"; cat "$TMP/$which.log" >&2; exit 1; }
    sleep 0.05
  done
  log "$which not ready after 10 s"
  exit 1
}

stop_server() {
  kill "$SERVER_PID" $BACK_PID 2>/dev/null || true
  wait "$SERVER_PID" $BACK_PID 2>/dev/null || true
  SERVER_PID=""
  BACK_PID=""
}

# server_ticks: CPU ticks of the server (both processes for Node's two).
server_ticks() {
  local t
  t=$(cpu_ticks "$SERVER_PID")
  [ -n "$BACK_PID" ] && t=$((t + $(cpu_ticks "$BACK_PID")))
  echo "$t"
}

lg_prefix() { if [ "$1" = pinned ]; then echo "taskset -c $LG_CPU"; fi; }

RUNS_CSV="$TMP/runs.csv"
echo "config,server,round,rps,p50_ms,p99_ms,cpu_us" >"$RUNS_CSV"
declare -A VALS   # "cfg|server|metric" -> space-separated values, one per round
add() { VALS["$1|$2|$3"]="${VALS["$1|$2|$3"]:-} $4"; }
med() { median ${VALS["$1|$2|$3"]:-}; }
WARNINGS=()

# closed_round CFG SERVER ROUND
closed_round() {
  local cfg=$1 srv=$2 round=$3 lg out
  lg=$(lg_prefix "$cfg")
  start_server "$srv" "$cfg"
  $lg wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$PORT/" >/dev/null
  local t0 t1
  t0=$(server_ticks)
  out="$TMP/wrk-$cfg-$srv-$round.txt"
  $lg wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/" >"$out"
  t1=$(server_ticks)
  stop_server
  local rps p50 p99 reqs cpu_us
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  reqs=$(awk '/requests in/ {print $1}' "$out")
  cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  if grep -qE 'Socket errors|Non-2xx' "$out"; then
    WARNINGS+=("$cfg/$srv round $round: $(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ')")
  fi
  add "$cfg" "$srv" rps "$rps"; add "$cfg" "$srv" p50 "$p50"; add "$cfg" "$srv" p99 "$p99"
  add "$cfg" "$srv" cpu "$cpu_us"
  echo "$cfg,$srv,$round,$rps,$p50,$p99,$cpu_us" >>"$RUNS_CSV"
  local cores
  cores=$(awk -v c="$cpu_us" -v r="$rps" 'BEGIN {printf "%.2f", c * r / 1e6}')
  add "$cfg" "$srv" cores "$cores"
  if [ "$cfg" = pinned ] && awk -v c="$cores" 'BEGIN {exit !(c < 0.9)}'; then
    WARNINGS+=("pinned/$srv round $round: server used only $cores of its CPU, so its throughput was bounded by the load generator or by other load on the machine, not by the server")
  fi
  log "$(printf '%-8s %-8s round %d: %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  server CPU %6.2f us/req' \
    "$cfg" "$srv" "$round" "$rps" "$p50" "$p99" "$cpu_us")"
}

# open_round CFG SERVER ROUND RATE
open_round() {
  local cfg=$1 srv=$2 round=$3 rate=$4 lg out
  lg=$(lg_prefix "$cfg")
  start_server "$srv" "$cfg"
  $lg "$OHA" -z "${OPEN_WARMUP}s" -q "$rate" -c "$CONNS" --latency-correction --no-tui \
    --output-format quiet "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
  out="$TMP/oha-$cfg-$srv-$round.json"
  $lg "$OHA" -z "${OPEN_DURATION}s" -q "$rate" -c "$CONNS" --latency-correction --no-tui \
    --output-format json "http://127.0.0.1:$PORT/" >"$out"
  stop_server
  local fields
  fields=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const p = r.latencyPercentiles, ms = (x) => (x * 1000).toFixed(3);
    const errors = Object.entries(r.errorDistribution || {})
      .filter(([k]) => !/deadline/i.test(k)).reduce((n, [, v]) => n + v, 0);
    const ok = (r.statusCodeDistribution || {})["200"] || 0;
    console.log([r.summary.requestsPerSec.toFixed(0), ms(p.p50), ms(p.p99), ms(p["p99.9"]), errors, ok].join(" "));
  ' "$out")
  local rps p50 p99 p999 errs ok
  read -r rps p50 p99 p999 errs ok <<<"$fields"
  add "$cfg" "$srv" orps "$rps"; add "$cfg" "$srv" op50 "$p50"; add "$cfg" "$srv" op99 "$p99"
  add "$cfg" "$srv" op999 "$p999"
  [ "$errs" -gt 0 ] && WARNINGS+=("$cfg/$srv open-loop round $round: $errs errors")
  awk -v a="$rps" -v r="$rate" 'BEGIN {exit !(a < 0.95 * r)}' &&
    WARNINGS+=("$cfg/$srv open-loop round $round: achieved $rps req/s < 95% of target $rate")
  log "$(printf '%-8s %-8s open  %d @ %d req/s: got %s req/s  p50 %7.3f ms  p99 %7.3f ms  p99.9 %7.3f ms' \
    "$cfg" "$srv" "$round" "$rate" "$rps" "$p50" "$p99" "$p999")"
}

# Servers in list order on odd rounds, reversed on even ones.
order_for_round() {
  if [ $(($1 % 2)) -eq 1 ]; then echo "${SERVERS[*]}"
  else printf '%s\n' "${SERVERS[@]}" | tac | xargs; fi
}

# ---------------------------------------------------------------- run
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
declare -A RATE
for cfg in $CONFIGS; do
  for round in $(seq 1 "$ROUNDS"); do
    for srv in $(order_for_round "$round"); do closed_round "$cfg" "$srv" "$round"; done
  done
  if [ -n "$OHA" ]; then
    slower=""
    for srv in "${SERVERS[@]}"; do
      slower=$(awk -v a="$(med "$cfg" "$srv" rps)" -v b="${slower:-inf}" 'BEGIN {print (b == "inf" || a < b ? a : b)}')
    done
    RATE[$cfg]=$(awk -v s="$slower" -v f="$OPEN_FRACTION" 'BEGIN {r = int(s * f / 100 / 100) * 100; print (r < 100 ? 100 : r)}')
    for round in $(seq 1 "$ROUNDS"); do
      for srv in $(order_for_round "$round"); do open_round "$cfg" "$srv" "$round" "${RATE[$cfg]}"; done
    done
  fi
done
ELAPSED=$(($(date +%s) - START))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
label() {
  case "$1" in
    pyrosome-quickjs) if [ "${#SERVERS[@]}" -eq 2 ]; then echo "Pyrosome"; else echo "Pyrosome QuickJS"; fi ;;
    pyrosome-v8) echo "Pyrosome V8" ;;
    node) echo "Node" ;;
  esac
}
has_server() { local s; for s in "${SERVERS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
BOTH_ENGINES=0
has_server pyrosome-quickjs && has_server pyrosome-v8 && BOTH_ENGINES=1
# The table's header: one column per server, then Pyrosome/Node per engine
# and, with both engines, V8/QuickJS.
header() { # header FIRST-COLUMN
  local h="| $1 |" sep="|---|" srv
  for srv in "${SERVERS[@]}"; do h="$h $(label "$srv") |"; sep="$sep---:|"; done
  for srv in "${SERVERS[@]}"; do
    [ "$srv" = node ] || { h="$h $(label "$srv")/Node |"; sep="$sep---:|"; }
  done
  [ "$BOTH_ENGINES" = 1 ] && { h="$h V8/QuickJS |"; sep="$sep---:|"; }
  echo "$h"; echo "$sep"
}
row() { # row LABEL CFG METRIC FORMAT
  local line="| $1 |" srv n
  for srv in "${SERVERS[@]}"; do line="$line $(printf "$4" "$(med "$2" "$srv" "$3")") |"; done
  n=$(med "$2" node "$3")
  for srv in "${SERVERS[@]}"; do
    [ "$srv" = node ] || line="$line $(ratio "$(med "$2" "$srv" "$3")" "$n") |"
  done
  [ "$BOTH_ENGINES" = 1 ] && line="$line $(ratio "$(med "$2" pyrosome-v8 "$3")" "$(med "$2" pyrosome-quickjs "$3")") |"
  echo "$line"
}
describe() {
  if [ "$1" = pinned ]; then
    echo "load generator pinned to CPU $LG_CPU, server pinned to CPU $SERVER_CPU; Pyrosome \`--workers 1\` (one worker thread polls the sockets and runs the JavaScript), engines: $ENGINES; Node $( [ "$WORKLOAD" = two ] && echo "front and back processes both on CPU $SERVER_CPU" || echo "single process")"
  else
    echo "nothing pinned (load generator and server share all $(nproc) CPUs); Pyrosome \`--workers $UNPINNED_WORKERS\`, engines: $ENGINES; Node single process (one JS thread)"
  fi
}
rounds_of() { echo "${VALS["$1|$2|$3"]:-}" | xargs | sed 's/ /, /g'; }

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

REPORT="$TMP/report.md"
{
  if [ "$ENGINES" = quickjs ]; then
    echo "# $TITLE: Pyrosome vs Node.js \`http\`"
  else
    echo "# $TITLE: Pyrosome ($ENGINES) vs Node.js \`http\`"
  fi
  echo
  echo "Generated by \`bench/http-hello.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${ELAPSED} s."
  echo
  echo "Command: \`$COMMAND\`"
  echo
  if [ "$WORKLOAD" = hello ]; then
    echo "All servers answer \`GET /\` with \`Hello, world!\\n\` and \`content-type: text/plain\`"
    echo "(Pyrosome: \`bench/apps/hello-http\`, one service with a \`fetch\` handler; Node:"
    echo "\`bench/node/hello.js\`, \`http.createServer\`, one process; Pyrosome runs \`serve --engine E\` for E in: $ENGINES)."
  else
    echo "All servers answer \`GET /\` with \`$EXPECTED_BODY\` (JSON) made by a second service"
    echo "(Pyrosome: \`bench/apps/two-services\`, \`front\` awaits \`services.back.greet()\`, one process;"
    echo "Node: \`bench/node/two-front.js\` calls \`bench/node/two-back.js\` over HTTP/JSON with a keep-alive"
    echo "agent, two processes, CPU summed; Pyrosome runs \`serve --engine E\` for E in: $ENGINES)."
  fi
  echo "Closed loop: \`wrk -t$WRK_THREADS -c$CONNS"
  echo "-d${DURATION}s --latency\`, keep-alive, after a ${WARMUP} s warm-up on a fresh server process;"
  echo "$ROUNDS rounds, servers alternating, medians shown. Ratio X/Node = X / Node (throughput: higher is"
  echo "better; latency and CPU per request: lower is better). \"Server CPU/req\" = user+system CPU of the"
  echo "whole server process (all threads) during the measured run divided by requests served;"
  echo "\"cores busy\" = that CPU time divided by the run time (1.00 = one CPU fully used)."
  if [ -n "$OHA" ]; then
    echo "Open loop: \`oha -q RATE -c $CONNS -z ${OPEN_DURATION}s --latency-correction\` (constant rate, latency"
    echo "measured from the scheduled send time, so no coordinated omission) after a ${OPEN_WARMUP} s warm-up at"
    echo "the same rate; RATE = ${OPEN_FRACTION}% of the slower server's median closed-loop throughput in that"
    echo "configuration, rounded down to 100."
  else
    echo "Open loop: skipped (oha not installed; wrk2 is not packaged in Debian)."
  fi
  for cfg in $CONFIGS; do
    echo
    echo "## Configuration: $cfg"
    echo
    echo "$(describe "$cfg")."
    echo
    header "metric (median of $ROUNDS)"
    row "throughput, closed loop (req/s)" "$cfg" rps "%.0f"
    row "latency p50, closed loop (ms)" "$cfg" p50 "%.3f"
    row "latency p99, closed loop (ms)" "$cfg" p99 "%.3f"
    row "server CPU per request (µs)" "$cfg" cpu "%.2f"
    row "server CPU use (cores busy)" "$cfg" cores "%.2f"
    if [ -n "$OHA" ]; then
      row "open loop @ ${RATE[$cfg]} req/s: achieved (req/s)" "$cfg" orps "%.0f"
      row "open loop @ ${RATE[$cfg]} req/s: p50 (ms)" "$cfg" op50 "%.3f"
      row "open loop @ ${RATE[$cfg]} req/s: p99 (ms)" "$cfg" op99 "%.3f"
      row "open loop @ ${RATE[$cfg]} req/s: p99.9 (ms)" "$cfg" op999 "%.3f"
    fi
    echo
    echo "Per round (servers in the order ${SERVERS[*]} on odd rounds, reversed on even ones):"
    echo
    echo "| server | req/s | p50 ms | p99 ms | CPU µs/req |$( [ -n "$OHA" ] && echo ' open p99 ms |')"
    echo "|---|---|---|---|---|$( [ -n "$OHA" ] && echo '---|')"
    for srv in "${SERVERS[@]}"; do
      echo "| $srv | $(rounds_of "$cfg" "$srv" rps) | $(rounds_of "$cfg" "$srv" p50) | $(rounds_of "$cfg" "$srv" p99) | $(rounds_of "$cfg" "$srv" cpu) |$( [ -n "$OHA" ] && echo " $(rounds_of "$cfg" "$srv" op99) |")"
    done
  done
  echo
  if [ "${#WARNINGS[@]}" -gt 0 ]; then
    echo "## Warnings"
    echo
    for w in "${WARNINGS[@]}"; do echo "- $w"; done
    echo
  fi
  for srv in "${SERVERS[@]}"; do
    if [ -s "$TMP/$srv.log" ] && grep -qv 'listening on' "$TMP/$srv.log"; then
      echo "## $srv stderr (last 20 lines, all runs)"
      echo
      echo '```'
      grep -v 'listening on' "$TMP/$srv.log" | tail -n 20
      echo '```'
      echo
    fi
  done
  echo "## Machine"
  echo
  echo "- nproc: $(nproc); CPU: $CPU_MODEL"
  echo "- kernel: $(uname -sr)"
  echo "- node: $(node --version); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2, $3}')$( [ -n "$OHA" ] && echo "; $("$OHA" --version)")"
  echo "- pyrosome git rev: $GIT_REV"
  echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
  echo
  echo "The machine is shared (other builds may run); numbers are noisy. Rerun the command above to"
  echo "reproduce; compare ratios from the same run rather than absolute numbers across runs."
} >"$REPORT"

mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
cp "$RUNS_CSV" "${OUT%.md}.csv"
cat "$REPORT"
log "report written to $OUT, every run to ${OUT%.md}.csv"
if cargo build --release --quiet --manifest-path bench/charts/Cargo.toml --target-dir "$TARGET_DIR/charts" >&2 &&
  "$TARGET_DIR/charts/release/charts" http "${OUT%.md}.csv" "${OUT%.md}.svg" \
    --title "$TITLE: throughput and server CPU per request"; then
  log "chart written to ${OUT%.md}.svg"
else
  log "warning: the chart could not be drawn"
fi
