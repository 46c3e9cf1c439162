#!/usr/bin/env bash
# The DeathStarBench hotel reservation, Pyrosome vs. the standard deployment
# (one Node.js process per service, HTTP/JSON between them, Redis for the
# Mongo tiers, Memcached for the cache tiers), same JavaScript, same seed
# data, same load generator, one run: bench/socialnetwork.sh's method
# (open loop, sweep, common rate, interleaved) with the app's definitions in
# bench/hotelreservation/bench.conf.sh. Every knob of that script applies.
#
#   bench/hotelreservation.sh            # full run
#   bench/hotelreservation.sh --quick    # short steps
#
# Report: bench/results/hotelreservation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export DSB_COMMAND="bench/hotelreservation.sh $*"
exec bench/socialnetwork.sh --app hotelreservation "$@"
