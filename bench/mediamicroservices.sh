#!/usr/bin/env bash
# The DeathStarBench media microservices (examples/mediamicroservices),
# Pyrosome vs. the standard deployment (one Node.js process per service,
# HTTP/JSON between them, Redis for the MongoDB and Redis tiers, memcached for
# the Memcached tiers), same JavaScript, same data, same load generator, one
# run; the compose-review workload. bench/socialnetwork.sh's method (open
# loop, sweep, common rate, interleaved) with the app's definitions in
# bench/mediamicroservices/bench.conf.sh; every knob of that script applies.
# See bench/mediamicroservices/README.md.
#
#   bench/mediamicroservices.sh            # full run
#   bench/mediamicroservices.sh --quick    # short steps
#
# Report: bench/results/mediamicroservices.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export DSB_COMMAND="bench/mediamicroservices.sh $*"
exec bench/socialnetwork.sh --app mediamicroservices "$@"
