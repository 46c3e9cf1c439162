# What bench/socialnetwork.sh --app mediamicroservices (bench/mediamicroservices.sh)
# does differently from the social network: sourced by that script.
APP_DIR=examples/mediamicroservices
MAIN_WORKLOAD=compose-review
ROUTE_WORKLOADS=""
# Upstream's Memcached tiers; the MongoDB and Redis tiers are on Redis (the
# social network's stand-in: MongoDB is not packaged here).
MEMCACHED_STORES="user-cache,movie-id-cache,compose-review,review-cache,cast-info-cache,plot-cache,movie-info-cache"
APP_TITLE="Media microservices benchmark: Pyrosome vs. the standard deployment"
TABLE_LABEL="mediamicroservices, compose-review workload"
NODE_TITLE="Node.js + Redis + Memcached (14 processes)"
LOAD_LOG_PATTERN='register users\|cast info\|plots\|movie info\|register movies'
app_load() { node bench/mediamicroservices/load.mjs --target "$1"; }
# The workload's movie titles: those the loader writes.
app_before_runs() {
  node bench/mediamicroservices/load.mjs --titles >"$WORK/titles.txt"
  LOADGEN_ARGS=(--titles "$WORK/titles.txt" --users 1000)
}
data_note() {
  echo "1,000 users and the generated 1,000-movie catalogue of bench/mediamicroservices/load.mjs (cast info, plots, movie info, title registrations); every step starts from the same post-load snapshot (the baseline's Memcached starts empty each time)."
}
# Ports of its own, so that it can run beside the other apps' benchmarks.
: "${SN_PORT_PYROSOME:=18680}" "${SN_PORT_NODE:=18690}" "${SN_PORT_REDIS:=18679}" "${SN_PORT_MEMCACHED:=18611}"
