#!/usr/bin/env bash
# The controller at fleet scale (#13): bench_fleet_full_scale in
# local/tests/api/fleet_scale.rs against simulated agents (local/tests/api/sim.rs,
# one process serving the agent API for every agent). Prints the figures line
# and writes it to bench/fleet/last.json.
#   FLEET_AGENTS=1000  FLEET_RUNS=100 (100 jobs each)  FLEET_KILLED=20
#   PROFILE=test (debug, the default; the figures in RESULTS.md say which)
#     or PROFILE=release (a release build of the test binary: slow to build)
# Postgres at ALILO_TEST_PG_DSN (default the local server's `test` database);
# S3 at ALILO_TEST_S3_ENDPOINT if set. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
export FLEET_AGENTS="${FLEET_AGENTS:-1000}" FLEET_RUNS="${FLEET_RUNS:-100}" FLEET_KILLED="${FLEET_KILLED:-20}"
profile=()
if [ "${PROFILE:-test}" = release ]; then profile=(--cargo-profile release); fi
# 1,000 listeners plus the controller's connections to them.
ulimit -n 20000 2>/dev/null || true
echo "== $FLEET_AGENTS agents, $FLEET_RUNS runs x 100 jobs, $FLEET_KILLED killed; load: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(cargo nextest run -p alilo-local --test api "${profile[@]}" --run-ignored only --no-capture \
  --test-threads 1 fleet_scale::bench_fleet_full_scale 2>&1) || { echo "$out" | tail -40; exit 1; }
line=$(echo "$out" | grep '^FLEET-FIGURES ' | tail -1 | cut -d' ' -f2-)
echo "$line" | python3 -m json.tool
echo "$line" > bench/fleet/last.json
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
