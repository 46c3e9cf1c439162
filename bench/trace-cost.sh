#!/usr/bin/env bash
# What tracing costs (issue 14): the same Pyrosome binary with tracing off,
# with the default in-memory keep of slow/failed traces, and sampled at 0.01
# and 1.0 with OTLP export to a local sink — side by side in one run, the
# variants alternating round by round, each run on a fresh server.
#
#   bench/trace-cost.sh                    # hello world + social network, ~6 min
#   PARTS=hello bench/trace-cost.sh        # hello world only
#   BASE_BIN=/path/to/old/pyrosome bench/trace-cost.sh   # adds a "base" variant:
#                                          # a binary built without tracing
#
# Parts:
#   hello  - bench/apps/hello-http, server pinned to CPU $SERVER_CPU with
#            --workers 1, wrk (closed loop, keep-alive, $CONNS connections)
#            pinned to CPU $LG_CPU; req/s and server CPU per request.
#   social - examples/socialnetwork (the DeathStarBench social network),
#            loaded once with bench/socialnetwork/load.mjs, every run from the
#            snapshot; the mixed workload open loop at a constant $SN_RATE
#            req/s (bench/socialnetwork/loadgen); server CPU per request and
#            p50/p99. Each request is ~5-15 spans (calls between services,
#            store operations).
#
# Variants (serve flags):
#   base   - $BASE_BIN, if set (a build from before tracing existed)
#   off    - --trace-keep off (no OTLP endpoint): nothing is recorded
#   keep   - the defaults: every request recorded, slow/failed ones kept
#   s0.01  - --trace-sample-rate 0.01 --otlp-endpoint (a local sink)
#   s1     - --trace-sample-rate 1 --otlp-endpoint (every trace exported)
#
# Knobs: PARTS ["hello social"] ROUNDS [3] DURATION [8] WARMUP [2] CONNS [50]
#   LG_CPU [0] SERVER_CPU [1] SN_RATE [200] SN_SECONDS [15] SN_WARMUP [3]
#   VARIANTS ["base off keep s0.01 s1"; base only with BASE_BIN]
#   OUT [bench/results/trace-cost.md] PYROSOME_BIN [unset: cargo build --release]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PARTS=${PARTS:-"hello social"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-50}
LG_CPU=${LG_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
SN_RATE=${SN_RATE:-200}
SN_SECONDS=${SN_SECONDS:-15}
SN_WARMUP=${SN_WARMUP:-3}
OUT=${OUT:-bench/results/trace-cost.md}
VARIANTS=${VARIANTS:-"base off keep s0.01 s1"}
[ -z "${BASE_BIN:-}" ] && VARIANTS=${VARIANTS//base/}
export JWT_SECRET="${JWT_SECRET:-bench-jwt-secret}"

log() { printf '[trace-cost %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TMP=$(mktemp -d /tmp/trace-cost.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || { log "wrk is required (apt-get install wrk)"; exit 1; }
command -v node >/dev/null || { log "node is required"; exit 1; }

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -z "${PYROSOME_BIN:-}" ]; then
  log "cargo build --release"
  cargo build --release --quiet
  cp "$TARGET_DIR/release/pyrosome" "$TMP/pyrosome"
  PYROSOME="$TMP/pyrosome"
else
  PYROSOME=$PYROSOME_BIN
fi
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
CLK_TCK=$(getconf CLK_TCK)
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
wait_http() {
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt "$deadline" ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.05
  done
}

# The OTLP sink: answers every POST with 200 (an empty ExportTraceServiceResponse
# is an empty protobuf message) and counts bytes.
SINK_PORT=$(free_port)
node -e '
  let bytes = 0, posts = 0;
  require("http").createServer((req, res) => {
    req.on("data", (c) => { bytes += c.length; });
    req.on("end", () => { posts++; res.writeHead(200, {"content-type": "application/x-protobuf"}); res.end(); });
  }).listen(Number(process.argv[1]), "127.0.0.1");
  process.on("SIGTERM", () => { console.error(`sink: ${posts} posts, ${bytes} bytes`); process.exit(0); });
' "$SINK_PORT" 2>>"$TMP/sink.log" &
PIDS+=("$!")
SINK="http://127.0.0.1:$SINK_PORT"

bin_of() { if [ "$1" = base ]; then echo "$BASE_BIN"; else echo "$PYROSOME"; fi; }
flags_of() {
  case "$1" in
    base|keep) ;;
    off) echo "--trace-keep off" ;;
    s0.01) echo "--trace-sample-rate 0.01 --otlp-endpoint $SINK" ;;
    s1) echo "--trace-sample-rate 1 --otlp-endpoint $SINK" ;;
    *) log "unknown variant $1"; exit 2 ;;
  esac
}

SERVER_PID=""
start_server() { # variant app data-dir
  PORT=$(free_port)
  # shellcheck disable=SC2046
  taskset -c "$SERVER_CPU" "$(bin_of "$1")" --log warn serve "$2" --listen "127.0.0.1:$PORT" \
    --workers 1 --admin off --data "$3" $(flags_of "$1") 2>>"$TMP/server-$1.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "http://127.0.0.1:$PORT/healthz"
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# The rounds alternate the order of the variants (forward, backward, ...).
order_of_round() {
  local round=$1 v=()
  read -r -a v <<<"$VARIANTS"
  if [ $((round % 2)) = 0 ]; then printf '%s\n' "${v[@]}"; else printf '%s\n' "${v[@]}" | tac; fi
}

REPORT="$TMP/report.md"
{
  echo "# What tracing costs"
  echo
  echo "- revision: $GIT_REV; $(nproc) CPUs, $(uname -r); the machine was shared with other work (ratios only)"
  echo "- command: \`PARTS=\"$PARTS\" ROUNDS=$ROUNDS DURATION=$DURATION SN_RATE=$SN_RATE SN_SECONDS=$SN_SECONDS${BASE_BIN:+ BASE_BIN=...} bench/trace-cost.sh\`"
  echo "- variants: off = \`--trace-keep off\`; keep = defaults (every request recorded, slow/failed kept in memory); s0.01 / s1 = \`--trace-sample-rate R --otlp-endpoint\` (a local sink)${BASE_BIN:+; base = a build without tracing}"
  echo
} >"$REPORT"

declare -A RPS CPU P50 P99
if [[ " $PARTS " == *" hello "* ]]; then
  log "hello world: $ROUNDS rounds of ${DURATION}s per variant ($VARIANTS)"
  for round in $(seq 0 $((ROUNDS - 1))); do
    for v in $(order_of_round "$round"); do
      start_server "$v" bench/apps/hello-http "$TMP/data-hello"
      url="http://127.0.0.1:$PORT/"
      taskset -c "$LG_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null
      t0=$(cpu_ticks "$SERVER_PID")
      out=$(taskset -c "$LG_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")
      t1=$(cpu_ticks "$SERVER_PID")
      stop_server
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      us=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
      RPS[$v]="${RPS[$v]:-} $rps"
      CPU[$v]="${CPU[$v]:-} $us"
      log "  round $round $v: $rps req/s, $us us CPU/request"
    done
  done
  read -r -a vs <<<"$VARIANTS"
  ref=${vs[0]}
  # shellcheck disable=SC2086
  ref_rps=$(median ${RPS[$ref]})
  {
    echo "## Hello world (bench/apps/hello-http, server pinned, --workers 1, wrk -c$CONNS, median of $ROUNDS)"
    echo
    echo "| variant | req/s | vs $ref | server CPU per request | runs (req/s) |"
    echo "| --- | ---: | ---: | ---: | --- |"
    for v in "${vs[@]}"; do
      # shellcheck disable=SC2086
      m=$(median ${RPS[$v]})
      # shellcheck disable=SC2086
      c=$(median ${CPU[$v]})
      ratio=$(awk -v a="$m" -v b="$ref_rps" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }')
      echo "| $v | $m | $ratio | $c µs |${RPS[$v]} |"
    done
    echo
  } >>"$REPORT"
fi

if [[ " $PARTS " == *" social "* ]]; then
  log "social network: building the load generator, loading the data"
  cargo build --release --quiet --manifest-path bench/socialnetwork/loadgen/Cargo.toml --target-dir "$TARGET_DIR/loadgen"
  LOADGEN=$TARGET_DIR/loadgen/release/sn-loadgen
  APP=$TMP/socialnetwork
  cp -r examples/socialnetwork "$APP"
  rm -rf "$APP/.pyrosome"
  PORT=$(free_port)
  "$PYROSOME" --log warn serve "$APP" --listen "127.0.0.1:$PORT" --data "$TMP/sn-load" --admin off \
    2>>"$TMP/sn-load.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "http://127.0.0.1:$PORT/healthz"
  graph=()
  [ -d bench/socialnetwork/data/socfb-Reed98 ] && graph=(--graph bench/socialnetwork/data/socfb-Reed98)
  node bench/socialnetwork/load.mjs --target "http://127.0.0.1:$PORT" "${graph[@]}" >/dev/null 2>>"$TMP/sn-load.log"
  stop_server
  log "social network: $ROUNDS rounds of ${SN_SECONDS}s at $SN_RATE req/s per variant"
  for round in $(seq 0 $((ROUNDS - 1))); do
    for v in $(order_of_round "$round"); do
      rm -rf "$TMP/sn-run"
      cp -a "$TMP/sn-load" "$TMP/sn-run"
      sync "$TMP/sn-run"/* 2>/dev/null || true
      start_server "$v" "$APP" "$TMP/sn-run"
      t0=$(cpu_ticks "$SERVER_PID")
      taskset -c "$LG_CPU" "$LOADGEN" --target "127.0.0.1:$PORT" --workload mixed --rate "$SN_RATE" \
        --duration "$SN_SECONDS" --warmup "$SN_WARMUP" --connections 64 --seed 42 >"$TMP/run.json" 2>>"$TMP/loadgen.log"
      t1=$(cpu_ticks "$SERVER_PID")
      stop_server
      read -r p50 p99 sent < <(node -e '
        const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(r.p50_ms.toFixed(2), r.p99_ms.toFixed(2), r.achieved_rate * (Number(process.argv[2]) + Number(process.argv[3])));' \
        "$TMP/run.json" "$SN_SECONDS" "$SN_WARMUP")
      us=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$sent" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
      CPU[sn.$v]="${CPU[sn.$v]:-} $us"
      P50[$v]="${P50[$v]:-} $p50"
      P99[$v]="${P99[$v]:-} $p99"
      log "  round $round $v: $us us CPU/request, p50 $p50 ms, p99 $p99 ms"
    done
  done
  read -r -a vs <<<"$VARIANTS"
  ref=${vs[0]}
  # shellcheck disable=SC2086
  ref_cpu=$(median ${CPU[sn.$ref]})
  {
    echo "## Social network (mixed workload, open loop at $SN_RATE req/s, server pinned, --workers 1, median of $ROUNDS)"
    echo
    echo "| variant | server CPU per request | vs $ref | p50 | p99 | runs (µs CPU/request) |"
    echo "| --- | ---: | ---: | ---: | ---: | --- |"
    for v in "${vs[@]}"; do
      # shellcheck disable=SC2086
      c=$(median ${CPU[sn.$v]})
      ratio=$(awk -v a="$c" -v b="$ref_cpu" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }')
      # shellcheck disable=SC2086
      echo "| $v | $c µs | $ratio | $(median ${P50[$v]}) ms | $(median ${P99[$v]}) ms |${CPU[sn.$v]} |"
    done
    echo
  } >>"$REPORT"
fi

mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
cat "$REPORT"
log "written to $OUT"
