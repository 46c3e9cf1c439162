# What bench/socialnetwork.sh --app hotelreservation (bench/hotelreservation.sh)
# does differently from the social network: sourced by that script.
APP_DIR=examples/hotelreservation
MAIN_WORKLOAD=hotel-mixed
ROUTE_WORKLOADS="hotel-search hotel-recommend hotel-login hotel-reserve"
# Upstream's Memcached tiers; the Mongo databases are on Redis (the social
# network's stand-in: MongoDB is not packaged here).
MEMCACHED_STORES="rate-cache,profile-cache,reservation-cache,review-cache"
APP_TITLE="Hotel reservation benchmark: Pyrosome vs. the standard deployment"
TABLE_LABEL="hotelreservation, mixed workload (60 % search, 39 % recommend, 0.5 % login, 0.5 % reserve)"
NODE_TITLE="Node.js + Redis + Memcached (10 processes)"
LOAD_LOG_PATTERN='seed\|warm caches'
app_load() { node bench/hotelreservation/load.mjs --target "$1"; }
# Every step restarts from the snapshot: refill the caches the same way in both
# deployments (the baseline's memcached starts empty), unmeasured.
app_after_restore() { node bench/hotelreservation/load.mjs --target "$1" --warm-only; }
data_note() {
  echo "the seed data of examples/hotelreservation/lib/seed.js (80 hotels, 501 users), written by each service on first use, then a grid of searches and recommendations to fill the caches (bench/hotelreservation/load.mjs); every step starts from the same snapshot and refills the caches the same way before it is measured."
}
# Ports of its own, so that it can run beside a socialnetwork benchmark.
: "${SN_PORT_PYROSOME:=18580}" "${SN_PORT_NODE:=18590}" "${SN_PORT_REDIS:=18579}" "${SN_PORT_MEMCACHED:=18511}"
