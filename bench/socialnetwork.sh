#!/usr/bin/env bash
# The DeathStarBench social network, Pyrosome vs. the standard deployment
# (one Node.js process per service, HTTP/JSON between them, Redis for
# storage), same JavaScript, same data, same load generator, one run.
#
#   bench/socialnetwork.sh            # full run (~10-15 min)
#   bench/socialnetwork.sh --quick    # short steps (~4-5 min)
#   bench/socialnetwork.sh --app hotelreservation [--quick]   # another app (below)
#
# Other apps: `--app NAME` benchmarks examples/NAME the same way, with what
# differs (loader, workload, storage tiers, report texts) in
# bench/NAME/bench.conf.sh (sourced; it overrides the socialnetwork defaults
# marked "per app" below). bench/hotelreservation.sh is `--app hotelreservation`.
#
# What it does:
#   1. installs what is missing (apt: redis-server; Node.js 20+ must be present),
#      builds Pyrosome and the load generator (bench/socialnetwork/loadgen);
#   2. for each deployment: starts it on fresh storage, loads socfb-Reed98 (or a
#      synthetic graph of its size) and the seeded posts through the HTTP API
#      (bench/socialnetwork/load.mjs), and snapshots the storage;
#   3. throughput sweep on the mixed workload: open-loop steps at a constant
#      rate, doubling then bisecting, to find the highest rate with p99 under
#      SN_P99_MS (and >= 95 % of the rate achieved, < 0.1 % errors); a failed
#      step is retried once. Every step starts from the snapshot (restart +
#      restore), so all steps and both deployments read the same data; the
#      two deployments' steps are interleaved;
#   4. latency (p50/p99/p99.9) at a common rate both sustain
#      (SN_COMMON_FRACTION of the lower maximum), again from the snapshot;
#   5. prints one markdown table and writes it, with the machine, versions and
#      command, to bench/results/socialnetwork.md; every step also goes to
#      socialnetwork.csv beside it, drawn by bench/charts as socialnetwork.svg
#      (latency against offered load per deployment).
#
# Pinning: with 2+ cores the load generator runs on CPU 0 and the system under
# test (all its processes and threads: the Pyrosome process with --workers 1, or
# the 12 Node.js processes and redis-server) on CPU 1. SN_PIN=0 runs unpinned.
#
# Knobs (environment): SN_STEP_SECONDS (10), SN_WARMUP_SECONDS (3),
# SN_LATENCY_SECONDS (30), SN_P99_MS (50), SN_START_RATE (50), SN_CONNECTIONS (64),
# SN_PRECISION (10: bisect until the bounds are within 10 %), SN_RETRIES (1:
# a failed step is run once more and passes if either run sustained its rate),
# SN_COMMON_FRACTION (0.5), SN_GRAPH (dir or .edges file; default
# bench/socialnetwork/data/socfb-Reed98, shipped with its attribution), SN_PIN (1),
# SN_ROUTES (0; 1 adds a sweep of each single-route workload), SN_WORKDIR (/tmp),
# SN_NICE (1: run the load generator and the SUT at nice -10 when root),
# SN_KEEP (0; 1 keeps the work folder), SN_ONLY (both | pyrosome | node),
# SN_PYROSOME_ARGS (extra `pyrosome serve` flags; default none: the product
# defaults, partitioning on),
# SN_RELAXED (0: the app as shipped, primary stores durable; 1 runs Pyrosome with
# every store "relaxed", from a copy of the app, for comparison),
# SN_ENGINES ("quickjs"; "quickjs v8" runs Pyrosome once per engine,
# `serve --engine E`, as deployments pyrosome-quickjs and pyrosome-v8, built
# with `--features v8`; all Pyrosome deployments start from one snapshot),
# SN_OUT (bench/results/APP.md: where the report is written),
# SN_STORES ("embedded"; e.g. "embedded postgres postgres2" runs Pyrosome once
# per store setup: `pyrosome` on the embedded store, `pyrosome-pg` with the
# app's stores on a PostgreSQL 15 server the script starts (initdb in the work
# folder, fsync on, pinned with the system under test), and `pyrosome-pg2`:
# two nodes on that database behind HAProxy with deploy/haproxy.cfg, each
# node --workers half the SUT's; the `*-cache` stores stay embedded, local to
# each node; every other store moves to PostgreSQL with its durability; the
# database is restored from a template copy of the loaded one before each
# step), SN_PORT_PG (18478).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND=${DSB_COMMAND:-"bench/socialnetwork.sh $*"}
# The knobs set for this run belong to the command that reproduces it.
KNOBS=$(env | grep -E '^SN_[A-Z0-9_]+=' | sort | sed "s/=\(.*\)/='\1'/" | tr '\n' ' ' || true)
COMMAND="$KNOBS$COMMAND"
# The example declares the secret that signs login tokens (pyrosome.toml
# `secrets`); both deployments read it from the environment.
export JWT_SECRET="${JWT_SECRET:-bench-jwt-secret}"

QUICK=0
APP=socialnetwork
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --app) APP=${2:?--app needs a name}; shift ;;
    -h|--help) sed -n '2,52p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# ---- per app: the socialnetwork defaults; bench/APP/bench.conf.sh overrides them
APP_DIR=examples/socialnetwork
MAIN_WORKLOAD=mixed                 # the sweep's and the latency run's workload (loadgen --workload)
ROUTE_WORKLOADS="home user compose" # SN_ROUTES=1 sweeps these too
MEMCACHED_STORES=""                 # stores the baseline keeps in Memcached (comma-separated); none: no memcached
APP_TITLE="Social network benchmark: Pyrosome vs. the standard deployment"
TABLE_LABEL="socialnetwork, mixed workload (60 % home, 30 % user, 10 % compose)"
NODE_TITLE="Node.js + Redis (12 processes)"
LOAD_LOG_PATTERN='register\|follow\|compose\|warm caches'
app_load() { # url: loads a freshly started deployment (stdout: JSON, stderr: progress)
  local graph_args=()
  [ -n "$GRAPH" ] && graph_args=(--graph "$GRAPH")
  node bench/socialnetwork/load.mjs --target "$1" "${graph_args[@]}"
}
app_after_restore() { :; } # url: runs after each restart from the snapshot, before the load
app_before_runs() { :; } # runs once before the first run (may set LOADGEN_ARGS)
LOADGEN_ARGS=()                     # extra arguments of every loadgen run
data_note() {
  echo "${GRAPH:-synthetic graph} (962 users, 18,812 edges = 37,624 follows) and the seeded posts of bench/socialnetwork/load.mjs; every step starts from the same post-load snapshot."
}
if [ "$APP" != socialnetwork ]; then
  [ -f "bench/$APP/bench.conf.sh" ] || { echo "--app $APP: no bench/$APP/bench.conf.sh" >&2; exit 2; }
  # shellcheck source=/dev/null
  . "bench/$APP/bench.conf.sh"
fi
if [ "$QUICK" = 1 ]; then
  : "${SN_STEP_SECONDS:=4}" "${SN_WARMUP_SECONDS:=2}" "${SN_LATENCY_SECONDS:=10}" "${SN_PRECISION:=20}"
fi
STEP=${SN_STEP_SECONDS:-10}
WARMUP=${SN_WARMUP_SECONDS:-4}
PRECISION=${SN_PRECISION:-10}
RETRIES=${SN_RETRIES:-1}
LAT_SECONDS=${SN_LATENCY_SECONDS:-30}
P99_MS=${SN_P99_MS:-50}
START_RATE=${SN_START_RATE:-50}
CONNS=${SN_CONNECTIONS:-64}
COMMON_FRACTION=${SN_COMMON_FRACTION:-0.5}
PIN=${SN_PIN:-1}
ROUTES=${SN_ROUTES:-0}
ONLY=${SN_ONLY:-both}
if [ -z "${SN_GRAPH:-}" ] && [ -d "$ROOT/bench/socialnetwork/data/socfb-Reed98" ]; then
  SN_GRAPH="$ROOT/bench/socialnetwork/data/socfb-Reed98"
fi
GRAPH=${SN_GRAPH:-}

RELAXED=${SN_RELAXED:-0}
STORES=${SN_STORES:-embedded}
for st in $STORES; do
  case "$st" in
    embedded|postgres|postgres2) ;;
    *) echo "SN_STORES: unknown store setup $st (embedded, postgres or postgres2)" >&2; exit 2 ;;
  esac
done
PORT_PG=${SN_PORT_PG:-18478}
ENGINES=${SN_ENGINES:-quickjs}
OUT=${SN_OUT:-bench/results/$APP.md}
FEATURES=()
for e in $ENGINES; do
  case "$e" in
    quickjs) ;;
    v8) FEATURES=(--features v8) ;;
    *) echo "SN_ENGINES: unknown engine $e (quickjs or v8)" >&2; exit 2 ;;
  esac
done
PYROSOME_ARGS=${SN_PYROSOME_ARGS:-}
PORT_P=${SN_PORT_PYROSOME:-18480}
PORT_N=${SN_PORT_NODE:-18490}
PORT_R=${SN_PORT_REDIS:-18479}
PORT_M=${SN_PORT_MEMCACHED:-18411}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- pinning --------------------------------------------------------------
CPUS=$(nproc)
# On a shared machine, other processes land on the SUT's core too, and the
# kernel shares a core per *thread*: a deployment of 13 processes would then
# get a larger share than one of 3 threads. Raising the priority of the load
# generator and of the SUT (as root) keeps both deployments ahead of
# background work alike. SN_NICE=0 disables it.
NICE=""
if [ "${SN_NICE:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then NICE="nice -n -10"; fi
if [ "$PIN" = 1 ] && [ "$CPUS" -ge 2 ] && command -v taskset >/dev/null; then
  LG_CPUS=0
  SUT_CPUS=1-$((CPUS - 1))
  [ "$CPUS" -eq 2 ] && SUT_CPUS=1
  SUT_WORKERS=$((CPUS - 1))
  LG="taskset -c $LG_CPUS $NICE"
  SUT="taskset -c $SUT_CPUS $NICE"
  PINNING="load generator on CPU $LG_CPUS, system under test on CPU $SUT_CPUS (taskset); Pyrosome --workers $SUT_WORKERS${NICE:+; both at $NICE}"
else
  LG="$NICE"
  SUT="$NICE"
  SUT_WORKERS=$CPUS
  PINNING="none (load generator and system under test share all $CPUS CPUs)"
fi

# ---- setup ----------------------------------------------------------------
if ! command -v redis-server >/dev/null; then
  log "installing redis-server"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
fi
if [ -n "$MEMCACHED_STORES" ] && ! command -v memcached >/dev/null; then
  log "installing memcached"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached) >&2
fi
command -v node >/dev/null || { echo "Node.js 20+ is required (node not found)" >&2; exit 1; }
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || { echo "Node.js 20+ is required (found $(node --version))" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
USES_PG=0
case " $STORES " in *" postgres"*) USES_PG=1 ;; esac
if [ "$USES_PG" = 1 ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
  if [ -z "$PG_BIN" ] || [ ! -x "$HAPROXY" ]; then
    log "installing postgresql and haproxy"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql haproxy) >&2
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
  fi
fi

log "building pyrosome and the load generator"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release --quiet "${FEATURES[@]}"
cargo build --release --quiet --manifest-path bench/socialnetwork/loadgen/Cargo.toml --target-dir "$TARGET_DIR/loadgen"
cargo build --release --quiet --manifest-path bench/charts/Cargo.toml --target-dir "$TARGET_DIR/charts"
PYROSOME=$TARGET_DIR/release/pyrosome
LOADGEN=$TARGET_DIR/loadgen/release/sn-loadgen
CHARTS=$TARGET_DIR/charts/release/charts

WORK=$(mktemp -d "${SN_WORKDIR:-/tmp}/sn-bench.XXXXXX")
PIDS=()
APP_P=$APP_DIR
STORAGE_NOTE="Pyrosome runs the app as shipped: the primary (Mongo-tier) stores durable, fsynced before a write is acknowledged; the cache tiers relaxed. The baseline's Redis runs without persistence (appendonly no), so it acknowledges every write before it is on disk"
if [ "$RELAXED" = 1 ]; then
  APP_P=$WORK/app
  cp -r "$APP_DIR" "$APP_P"
  rm -rf "$APP_P/.pyrosome"
  node -e '
    const fs = require("fs"); const p = process.argv[1] + "/pyrosome.toml";
    let s = fs.readFileSync(p, "utf8");
    s = s.replaceAll(`durability = "durable"`, `durability = "relaxed"`);
    fs.writeFileSync(p, s);' "$APP_P"
  STORAGE_NOTE="every Pyrosome store relaxed (SN_RELAXED=1: acknowledged when applied, fsynced within ~1 s, like the baseline's Redis without persistence); the app ships with its primary stores durable"
fi
APP_PG=$WORK/app-pg
if [ "$USES_PG" = 1 ]; then
  cp -r "$APP_P" "$APP_PG"
  rm -rf "$APP_PG/.pyrosome"
  node -e '
    const fs = require("fs"); const p = process.argv[1] + "/pyrosome.toml";
    let s = fs.readFileSync(p, "utf8");
    s = s.replace(/^\[stores\.([a-z0-9_-]+)\]$/gm, (line, name) =>
      name.endsWith("-cache") ? line : `${line}\nbackend = "postgres"`);
    fs.writeFileSync(p, s);' "$APP_PG"
fi
PG_AS=""
[ "$(id -u)" = 0 ] && PG_AS="runuser -u postgres --"
cleanup() {
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    $PG_AS "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  fi
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  sleep 0.3
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${SN_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt "$deadline" ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.1
  done
}

forget_pid() { # pid
  local keep=()
  for p in "${PIDS[@]:-}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

# Runs a command in the background and waits for it, so that a signal to this
# script is handled at once (bash defers traps until a foreground child ends)
# and the cleanup knows to stop it.
run() {
  "$@" &
  local pid=$! rc=0
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return $rc
}

stop_pid() { # pid
  [ -n "${1:-}" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# ---- Pyrosome -------------------------------------------------------------
P_PID=""
# The engine of a Pyrosome deployment: pyrosome-E runs on E, plain pyrosome
# on the only engine of SN_ENGINES.
engine_of() { case "$1" in pyrosome-pg*) echo "$ENGINES" ;; pyrosome-*) echo "${1#pyrosome-}" ;; *) echo "$ENGINES" ;; esac; }
start_pyrosome() { # data-dir pinned(1|0) engine
  local wrap="" workers=$CPUS
  if [ "$2" = 1 ]; then wrap=$SUT; workers=$SUT_WORKERS; fi
  $wrap "$PYROSOME" serve "$APP_P" --listen "127.0.0.1:$PORT_P" --data "$1" \
    --workers "$workers" --engine "$3" --log warn $PYROSOME_ARGS >>"$WORK/pyrosome-$3.log" 2>&1 &
  P_PID=$!
  PIDS+=("$P_PID")
  wait_http "http://127.0.0.1:$PORT_P/healthz" 60
}
stop_pyrosome() {
  stop_pid "$P_PID"; P_PID=""
  stop_pid "${P2_PID:-}"; P2_PID=""
  stop_pid "${H_PID:-}"; H_PID=""
}

# ---- PostgreSQL (SN_STORES) ---------------------------------------------------
PG_PID=""
pg_sql() { # database sql
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT_PG" -U postgres -d "$1" -v ON_ERROR_STOP=1 -qAt -c "$2"
}
start_postgres() {
  mkdir -p "$WORK/pg"
  if [ -n "$PG_AS" ]; then
    # The work folder (mktemp: mode 700) must be traversable by the postgres user.
    chmod o+x "$WORK"
    chown -R postgres: "$WORK/pg"
  fi
  $PG_AS "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --locale=C >"$WORK/pg/initdb.log" 2>&1 ||
    { log "initdb failed:"; cat "$WORK/pg/initdb.log" >&2; return 1; }
  $SUT $PG_AS "$PG_BIN/postgres" -D "$WORK/pg/data" -p "$PORT_PG" -k "$WORK/pg" \
    -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB >"$WORK/pg/server.log" 2>&1 &
  PG_PID=$!
  PIDS+=("$PG_PID")
  local deadline=$((SECONDS + 60))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT_PG"; do
    [ $SECONDS -lt "$deadline" ] || { log "postgres did not start"; return 1; }
    sleep 0.2
  done
}
pg_url() { echo "postgresql://postgres@127.0.0.1:$PORT_PG/$1"; }
# pyrosome-pg: one node; pyrosome-pg2: two nodes behind HAProxy on PORT_P.
start_pyrosome_pg() { # deployment data-dir pinned(1|0) database
  local wrap="" workers=$CPUS engine
  engine=$(engine_of "$1")
  if [ "$3" = 1 ]; then wrap=$SUT; workers=$SUT_WORKERS; fi
  if [ "$1" != pyrosome-pg2 ]; then
    DATABASE_URL=$(pg_url "$4") $wrap "$PYROSOME" serve "$APP_PG" --listen "127.0.0.1:$PORT_P" --data "$2" \
      --workers "$workers" --engine "$engine" --log warn $PYROSOME_ARGS >>"$WORK/$1.log" 2>&1 &
    P_PID=$!
    PIDS+=("$P_PID")
    wait_http "http://127.0.0.1:$PORT_P/healthz" 60
    return
  fi
  local half=$(( (workers + 1) / 2 ))
  DATABASE_URL=$(pg_url "$4") $wrap "$PYROSOME" serve "$APP_PG" --listen "127.0.0.1:$((PORT_P + 1))" --data "$2/n1" \
    --workers "$half" --engine "$engine" --admin off --log warn $PYROSOME_ARGS >>"$WORK/$1.log" 2>&1 &
  P_PID=$!
  PIDS+=("$P_PID")
  DATABASE_URL=$(pg_url "$4") $wrap "$PYROSOME" serve "$APP_PG" --listen "127.0.0.1:$((PORT_P + 2))" --data "$2/n2" \
    --workers "$half" --engine "$engine" --admin off --log warn $PYROSOME_ARGS >>"$WORK/$1.log" 2>&1 &
  P2_PID=$!
  PIDS+=("$P2_PID")
  wait_http "http://127.0.0.1:$((PORT_P + 1))/healthz" 60
  wait_http "http://127.0.0.1:$((PORT_P + 2))/healthz" 60
  PYROSOME_LB_BIND=127.0.0.1:$PORT_P PYROSOME_NODE1=127.0.0.1:$((PORT_P + 1)) PYROSOME_NODE2=127.0.0.1:$((PORT_P + 2)) \
    $wrap "$HAPROXY" -f deploy/haproxy.cfg >>"$WORK/haproxy.log" 2>&1 &
  H_PID=$!
  PIDS+=("$H_PID")
  wait_http "http://127.0.0.1:$PORT_P/healthz" 30
  # Both nodes in rotation (rise 2 x inter 500ms).
  sleep 1.5
}

# ---- Node.js + Redis (+ Memcached) -------------------------------------------
N_PID=""
R_PID=""
M_PID=""
start_node() { # redis-dir pinned(1|0)
  local wrap="" mc_args=()
  if [ "$2" = 1 ]; then wrap=$SUT; fi
  if [ -n "$MEMCACHED_STORES" ]; then
    # A Memcached tier starts empty, as after a restart of upstream's containers.
    $wrap memcached -p "$PORT_M" -l 127.0.0.1 -U 0 -m 256 $([ "$(id -u)" = 0 ] && echo -u nobody) \
      >>"$WORK/memcached.log" 2>&1 &
    M_PID=$!
    PIDS+=("$M_PID")
    mc_args=(--memcached "127.0.0.1:$PORT_M" --memcached-stores "$MEMCACHED_STORES")
    local mc_deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT_M") 2>/dev/null; do
      [ $SECONDS -lt "$mc_deadline" ] || { log "memcached did not start"; return 1; }
      sleep 0.1
    done
  fi
  $wrap redis-server --port "$PORT_R" --bind 127.0.0.1 --dir "$1" --dbfilename dump.rdb \
    --save "" --appendonly no --logfile "$WORK/redis.log" &
  R_PID=$!
  PIDS+=("$R_PID")
  local deadline=$((SECONDS + 60))
  until [ "$(redis-cli -p "$PORT_R" ping 2>/dev/null)" = PONG ]; do
    [ $SECONDS -lt "$deadline" ] || { log "redis did not start"; return 1; }
    sleep 0.1
  done
  $wrap node bench/socialnetwork/node/cluster.mjs --app "$APP_DIR" \
    --listen "127.0.0.1:$PORT_N" --redis "127.0.0.1:$PORT_R" "${mc_args[@]}" >>"$WORK/node.log" 2>&1 &
  N_PID=$!
  PIDS+=("$N_PID")
  wait_http "http://127.0.0.1:$PORT_N/healthz" 120
}
stop_node() {
  stop_pid "$N_PID"; N_PID=""
  redis-cli -p "$PORT_R" shutdown nosave >/dev/null 2>&1 || true
  stop_pid "$R_PID"; R_PID=""
  stop_pid "$M_PID"; M_PID=""
}

# ---- deployments as: prepare / restore / stop / url ------------------------
prepare() { # deployment: fresh storage, load, snapshot
  local d=$1
  if [[ "$d" == pyrosome-pg* ]]; then
    if [ -d "$WORK/pg-snap" ]; then
      log "$d: starts from the PostgreSQL snapshot already loaded"
      return
    fi
    pg_sql postgres "CREATE DATABASE load"
    start_pyrosome_pg pyrosome-pg "$WORK/pg-load" 0 load
    run app_load "http://127.0.0.1:$PORT_P" >"$WORK/load-$d.json" 2>>"$WORK/load-$d.log"
    stop_pyrosome
    pg_sql postgres "CREATE DATABASE snap TEMPLATE load"
    pg_sql postgres "DROP DATABASE load"
    mv "$WORK/pg-load" "$WORK/pg-snap"
    sed 's/^/    /' "$WORK/load-$d.log" >&2
    return
  fi
  if [ "$d" != node ] && [ -d "$WORK/p-snap" ]; then
    log "$d: starts from the snapshot already loaded (the store does not depend on the engine)"
    return
  fi
  if [ "$d" != node ]; then
    start_pyrosome "$WORK/p-load" 0 "$(engine_of "$d")"
    run app_load "http://127.0.0.1:$PORT_P" >"$WORK/load-$d.json" 2>>"$WORK/load-$d.log"
    stop_pyrosome
    mv "$WORK/p-load" "$WORK/p-snap"
  else
    mkdir -p "$WORK/n-load"
    start_node "$WORK/n-load" 0
    run app_load "http://127.0.0.1:$PORT_N" >"$WORK/load-$d.json" 2>>"$WORK/load-$d.log"
    redis-cli -p "$PORT_R" save >/dev/null
    stop_node
    mkdir -p "$WORK/n-snap"
    mv "$WORK/n-load/dump.rdb" "$WORK/n-snap/dump.rdb"
    rm -rf "$WORK/n-load"
  fi
  sed 's/^/    /' "$WORK/load-$d.log" >&2
}

restore() { # deployment: restart from the snapshot, pinned
  if [[ "$1" == pyrosome-pg* ]]; then
    stop_pyrosome
    pg_sql postgres "DROP DATABASE IF EXISTS run"
    pg_sql postgres "CREATE DATABASE run TEMPLATE snap"
    pg_sql run "CHECKPOINT"
    rm -rf "$WORK/pg-run"
    mkdir -p "$WORK/pg-run"
    # The embedded caches: one copy per node.
    if [ "$1" = pyrosome-pg2 ]; then
      cp -a "$WORK/pg-snap" "$WORK/pg-run/n1"; cp -a "$WORK/pg-snap" "$WORK/pg-run/n2"
    else
      rmdir "$WORK/pg-run"; cp -a "$WORK/pg-snap" "$WORK/pg-run"
    fi
    sync
    start_pyrosome_pg "$1" "$WORK/pg-run" 1 run
  elif [ "$1" != node ]; then
    stop_pyrosome
    rm -rf "$WORK/p-run"
    cp -a "$WORK/p-snap" "$WORK/p-run"
    # Write the copy out now: otherwise the server's first fsync flushes the
    # whole copied file and stalls its first writes for hundreds of ms.
    sync "$WORK/p-run"/*
    start_pyrosome "$WORK/p-run" 1 "$(engine_of "$1")"
  else
    stop_node
    rm -rf "$WORK/n-run"
    mkdir -p "$WORK/n-run"
    cp "$WORK/n-snap/dump.rdb" "$WORK/n-run/dump.rdb"
    start_node "$WORK/n-run" 1
  fi
  run app_after_restore "http://127.0.0.1:$(port_of "$1")" >/dev/null 2>>"$WORK/after-restore.log"
}

stop_deployment() { if [ "$1" != node ]; then stop_pyrosome; else stop_node; fi; }
port_of() { if [ "$1" != node ]; then echo "$PORT_P"; else echo "$PORT_N"; fi; }

# One open-loop run from the snapshot; sets OUT_JSON to the loadgen's JSON line.
# (Not called in $(...): the processes it starts must stay known to this shell.)
OUT_JSON=""
run_load() { # deployment workload rate seconds warmup
  restore "$1"
  run $LG "$LOADGEN" --target "127.0.0.1:$(port_of "$1")" --workload "$2" --rate "$3" \
    --duration "$4" --warmup "$5" --connections "$CONNS" --seed 42 "${LOADGEN_ARGS[@]}" >"$WORK/run.json" 2>>"$WORK/loadgen.log"
  OUT_JSON=$(cat "$WORK/run.json")
}

json() { # json-text field
  node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v)' "$1" "$2"
}

# Whether a run sustained its rate: >= 95 % achieved, < 0.1 % errors, p99 under target.
sustained() { # json
  node -e '
    const r = JSON.parse(process.argv[1]);
    const ok = r.achieved_rate >= 0.95 * r.target_rate && r.errors <= 0.001 * r.measured && r.p99_ms <= Number(process.argv[2]);
    process.exit(ok ? 0 : 1);' "$1" "$P99_MS"
}

STEPS_MD="$WORK/steps.md"
STEPS_CSV="$WORK/steps.csv"
: >"$STEPS_MD"
echo "deployment,workload,target_rate,achieved_rate,p50_ms,p99_ms,p999_ms,errors,sustained" >"$STEPS_CSV"
record_step() { # deployment workload json verdict
  node -e '
    const r = JSON.parse(process.argv[3]);
    const cells = [process.argv[1], process.argv[2], r.target_rate, r.achieved_rate, r.p50_ms.toFixed(2), r.p99_ms.toFixed(2), r.p999_ms.toFixed(2), r.errors, process.argv[4]];
    console.log(`| ${cells.join(" | ")} |`);
    require("fs").appendFileSync(process.argv[5], cells.join(",") + "\n");' \
    "$1" "$2" "$3" "$4" "$STEPS_CSV" >>"$STEPS_MD"
}

# One measured step, retried once when it fails (a burst of other work on a
# shared machine can ruin one step's p99); sets STEP_OK (1|0).
STEP_OK=0
step() { # deployment workload rate
  local d=$1 w=$2 rate=$3 out try
  STEP_OK=0
  for try in 1 $((RETRIES + 1)); do
    run_load "$d" "$w" "$rate" "$STEP" "$WARMUP"; out=$OUT_JSON
    stop_deployment "$d"
    if sustained "$out"; then
      record_step "$d" "$w" "$out" yes
      log "  $d $w $rate req/s: ok (p50 $(json "$out" p50_ms) ms, p99 $(json "$out" p99_ms) ms, achieved $(json "$out" achieved_rate))"
      STEP_OK=1
      return
    fi
    record_step "$d" "$w" "$out" no
    log "  $d $w $rate req/s: not sustained (p50 $(json "$out" p50_ms) ms, p99 $(json "$out" p99_ms) ms, achieved $(json "$out" achieved_rate), errors $(json "$out" errors))"
    [ "$try" -le "$RETRIES" ] || return 0
  done
}

# Throughput sweeps of all deployments at once, their steps interleaved so
# that slow drifts in the machine's background load hit them alike. Each
# sweep doubles from START_RATE until a step fails (halving instead if the
# first one fails), then bisects to within PRECISION %. Sets MAX[d.w].
sweep_all() { # workload
  local w=$1 d rate active
  declare -A lo hi phase
  for d in "${DEPLOYMENTS[@]}"; do lo[$d]=0; hi[$d]=0; phase[$d]=double; RATE[$d]=$START_RATE; done
  while :; do
    active=0
    for d in "${DEPLOYMENTS[@]}"; do
      [ "${phase[$d]}" != done ] || continue
      active=1
      rate=${RATE[$d]}
      step "$d" "$w" "$rate"
      case "${phase[$d]}" in
        double)
          if [ "$STEP_OK" = 1 ]; then
            lo[$d]=$rate; RATE[$d]=$((rate * 2))
            [ "${RATE[$d]}" -le 200000 ] || phase[$d]=done
          elif [ "${lo[$d]}" -eq 0 ]; then
            hi[$d]=$rate; phase[$d]=halve; RATE[$d]=$((rate / 2))
          else
            hi[$d]=$rate; phase[$d]=bisect
          fi ;;
        halve)
          if [ "$STEP_OK" = 1 ]; then lo[$d]=$rate; phase[$d]=bisect
          else hi[$d]=$rate; RATE[$d]=$((rate / 2)); [ "${RATE[$d]}" -ge 3 ] || phase[$d]=done
          fi ;;
        bisect)
          if [ "$STEP_OK" = 1 ]; then lo[$d]=$rate; else hi[$d]=$rate; fi ;;
      esac
      if [ "${phase[$d]}" = bisect ]; then
        if [ $((hi[$d] - lo[$d])) -le $((lo[$d] * PRECISION / 100)) ]; then
          phase[$d]=done
        else
          RATE[$d]=$(((lo[$d] + hi[$d]) / 2))
        fi
      fi
      if [ "${phase[$d]}" = done ]; then
        MAX[$d.$w]=${lo[$d]}
        log "$d: $w sustains ${lo[$d]} req/s"
      fi
    done
    [ "$active" = 1 ] || break
  done
}

# ---- the run ----------------------------------------------------------------
PYROSOMES=(pyrosome)
if [ "$(wc -w <<<"$ENGINES")" -gt 1 ]; then
  PYROSOMES=()
  for e in $ENGINES; do PYROSOMES+=("pyrosome-$e"); done
fi
if [ "$STORES" != embedded ]; then
  PYROSOMES=()
  for st in $STORES; do
    case "$st" in
      embedded) PYROSOMES+=(pyrosome) ;;
      postgres) PYROSOMES+=(pyrosome-pg) ;;
      postgres2) PYROSOMES+=(pyrosome-pg2) ;;
    esac
  done
fi
[ "$USES_PG" = 1 ] && start_postgres
case "$ONLY" in
  both) DEPLOYMENTS=("${PYROSOMES[@]}" node) ;;
  pyrosome) DEPLOYMENTS=("${PYROSOMES[@]}") ;;
  *) DEPLOYMENTS=("$ONLY") ;;
esac
WORKLOADS=("$MAIN_WORKLOAD")
[ "$ROUTES" = 1 ] && read -r -a _routes <<<"$ROUTE_WORKLOADS" && WORKLOADS+=("${_routes[@]}")
app_before_runs
T0=$SECONDS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 20 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')
[ -z "$BUSY" ] || log "warning: other processes are busy ($BUSY); the results will be noisy"
declare -A MAX RATE
for d in "${DEPLOYMENTS[@]}"; do
  log "$d: loading the data ($APP)"
  prepare "$d"
done
for w in "${WORKLOADS[@]}"; do
  log "throughput sweeps, $w workload (steps of ${STEP}s + ${WARMUP}s warm-up, p99 < ${P99_MS} ms, interleaved)"
  sweep_all "$w"
done

# The common rate: a fraction of the lower maximum, so both are in steady state.
LOWEST=0
for d in "${DEPLOYMENTS[@]}"; do
  m=${MAX[$d.$MAIN_WORKLOAD]}
  if [ "$LOWEST" -eq 0 ] || [ "$m" -lt "$LOWEST" ]; then LOWEST=$m; fi
done
COMMON=$(node -p "Math.max(1, Math.round($LOWEST * $COMMON_FRACTION))")
declare -A LAT
for d in "${DEPLOYMENTS[@]}"; do
  log "$d: latency at $COMMON req/s ($MAIN_WORKLOAD, ${LAT_SECONDS}s)"
  run_load "$d" "$MAIN_WORKLOAD" "$COMMON" "$LAT_SECONDS" "$WARMUP"
  stop_deployment "$d"
  LAT[$d]=$OUT_JSON
  record_step "$d" "$MAIN_WORKLOAD (latency)" "${LAT[$d]}" "-"
done
ELAPSED=$((SECONDS - T0))

# ---- the table ----------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
value() { json "${LAT[$1]:-{\}}" "$2" 2>/dev/null || echo "-"; }
ratio() { node -p "const a = Number('$1'), b = Number('$2'); (a > 0 && b > 0) ? (a / b).toFixed(1) + 'x' : '-'"; }
N=node
has_node=0
PS=()   # the Pyrosome deployments that ran
for d in "${DEPLOYMENTS[@]}"; do if [ "$d" = node ]; then has_node=1; else PS+=("$d"); fi; done
title() {
  case "$1" in
    node) echo "$NODE_TITLE" ;;
    pyrosome) echo "Pyrosome" ;;
    pyrosome-quickjs) echo "Pyrosome, QuickJS" ;;
    pyrosome-v8) echo "Pyrosome, V8" ;;
    pyrosome-pg) echo "Pyrosome, PostgreSQL" ;;
    pyrosome-pg2) echo "2 x Pyrosome, PostgreSQL, HAProxy" ;;
    *) echo "$1" ;;
  esac
}
# Columns: every deployment, then each Pyrosome vs. the baseline, then V8 vs.
# QuickJS when both engines ran.
both_engines=0
[ -n "${MAX[pyrosome-quickjs.$MAIN_WORKLOAD]:-}" ] && [ -n "${MAX[pyrosome-v8.$MAIN_WORKLOAD]:-}" ] && both_engines=1
cells() { # FUNCTION: prints one row's cells after the label, given cell(deployment) and cmp(a,b)
  local line="" d
  for d in "${DEPLOYMENTS[@]}"; do line="$line $($1 "$d") |"; done
  if [ "$has_node" = 1 ]; then
    for d in "${PS[@]}"; do line="$line $($2 "$d" "$N") |"; done
  fi
  [ "$both_engines" = 1 ] && line="$line $($2 pyrosome-v8 pyrosome-quickjs) |"
  echo "$line"
}
max_cell() { echo "${MAX[$1.$W]:-0} req/s"; }
max_cmp() { echo "$(ratio "${MAX[$1.$W]:-0}" "${MAX[$2.$W]:-0}") higher"; }
lat_cell() { node -p "Number('$(value "$1" "${Q}_ms")').toFixed(2) + ' ms'"; }
lat_cmp() { echo "$(ratio "$(value "$2" "${Q}_ms")" "$(value "$1" "${Q}_ms")") lower"; }
ach_cell() { echo "$(value "$1" achieved_rate) req/s / $(value "$1" errors)"; }
no_cmp() { echo ""; }
TABLE=$(
  head="| $TABLE_LABEL |" sep="| --- |"
  for d in "${DEPLOYMENTS[@]}"; do head="$head $(title "$d") |"; sep="$sep ---: |"; done
  if [ "$has_node" = 1 ]; then
    for d in "${PS[@]}"; do head="$head $(title "$d") vs. baseline |"; sep="$sep ---: |"; done
  fi
  [ "$both_engines" = 1 ] && { head="$head V8 vs. QuickJS |"; sep="$sep ---: |"; }
  echo "$head"; echo "$sep"
  for W in "${WORKLOADS[@]}"; do echo "| max sustainable rate, $W (p99 < ${P99_MS} ms) |$(cells max_cell max_cmp)"; done
  for Q in p50 p99 p999; do
    echo "| ${Q/p999/p99.9} latency at $COMMON req/s |$(cells lat_cell lat_cmp)"
  done
  echo "| achieved rate / errors in the latency run |$(cells ach_cell no_cmp)"
)
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# $APP_TITLE"
  echo
  echo "$TABLE"
  echo
  echo "- **Command**: \`$COMMAND\` (step ${STEP}s + ${WARMUP}s warm-up, latency run ${LAT_SECONDS}s, ${CONNS} connections, p99 target ${P99_MS} ms, common rate = ${COMMON_FRACTION} x the lower maximum); total ${ELAPSED}s."
  echo "- **Date**: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')."
  echo "- **Machine**: ${CPU_MODEL:-unknown CPU}, $CPUS CPUs, $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r)."
  echo "- **Pinning**: $PINNING."
  echo "- **Pyrosome flags**: \`--workers N --log warn $PYROSOME_ARGS\` (defaults otherwise)."
  echo "- **Background load**: load average $LOAD_BEFORE at the start${BUSY:+; busy processes at the start: $BUSY}."
  echo "- **Versions**: $($PYROSOME --version 2>/dev/null || echo pyrosome) (engines: $ENGINES); Node.js $(node --version); $(redis-server --version | cut -d' ' -f1-3); $(rustc --version)."
  echo "- **Data**: $(data_note)"
  echo "- **Load**: bench/socialnetwork/loadgen, open loop at a constant rate, latency from the intended send time (no coordinated omission); request generators as upstream's wrk2 Lua scripts."
  echo "- **Storage**: $STORAGE_NOTE; Redis runs with no persistence at all (\`--save \"\" --appendonly no\`). Pyrosome with its tracing defaults (every request recorded in memory, slow and failed ones kept, nothing exported), the baseline without tracing; the cache tiers (Memcached) are modelled in both (same JavaScript)$([ -n "$MEMCACHED_STORES" ] && echo "; the baseline keeps the Memcached tiers ($MEMCACHED_STORES) in a memcached server ($(memcached -V 2>/dev/null)) that starts empty at every step, the others in Redis")."
  echo
  echo "Loading (through the HTTP API):"
  echo
  for d in "${DEPLOYMENTS[@]}"; do
    [ -f "$WORK/load-$d.log" ] || { echo "- $d: from the snapshot loaded above"; continue; }
    echo "- $d: $(sed -n "s/^\\($LOAD_LOG_PATTERN\\): /\\1 /p" "$WORK/load-$d.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
  done
  echo
  echo "<details><summary>Every step</summary>"
  echo
  echo "| deployment | workload | target req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors | sustained |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  cat "$STEPS_MD"
  echo
  echo "</details>"
} >"$OUT"
cp "$STEPS_CSV" "${OUT%.md}.csv"
title="$TABLE_LABEL: latency against offered load"
[ "$RELAXED" = 1 ] && title="$title (every store relaxed)"
"$CHARTS" socialnetwork "${OUT%.md}.csv" "${OUT%.md}.svg" --p99-target "$P99_MS" --title "$title" --workload "$MAIN_WORKLOAD" ||
  log "warning: the chart could not be drawn"
echo
echo "$TABLE"
echo
log "written to $OUT, ${OUT%.md}.csv and ${OUT%.md}.svg (${ELAPSED}s)"
