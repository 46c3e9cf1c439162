#!/usr/bin/env bash
# The DeathStarBench media microservices (examples/mediamicroservices),
# Pyrosome vs. the standard deployment (one Node.js process per service,
# HTTP/JSON between them, Redis for the MongoDB and Redis tiers, memcached for
# the Memcached tiers), same JavaScript, same data, same load generator, one
# run; the compose-review workload. The method, the knobs (SN_* environment
# variables) and the report are those of bench/socialnetwork.sh, which this
# runs with SN_APP=mediamicroservices; see bench/mediamicroservices/README.md.
#
#   bench/mediamicroservices.sh            # full run
#   bench/mediamicroservices.sh --quick    # short steps
# Results: bench/results/mediamicroservices.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SN_APP=mediamicroservices SN_COMMAND=bench/mediamicroservices.sh exec bench/socialnetwork.sh "$@"
