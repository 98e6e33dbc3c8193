#!/usr/bin/env bash
# The controller at fleet scale (#13): bench_fleet_full_scale in
# local/tests/api/fleet_scale.rs against simulated agents (local/tests/api/sim.rs,
# one process serving the agent API for every agent). Prints the figures line
# and writes it to bench/fleet/last.json.
#   FLEET_AGENTS=1000  FLEET_RUNS=100 (100 jobs each)  FLEET_KILLED=20
#   PROFILE=release (the default: opt-level 3; LTO off and 16 codegen units so
#     the test binary builds in reasonable time) or PROFILE=test (debug)
#   FLEET_BIN=path: run that prebuilt test binary (no cargo), e.g. on a quiet
#     machine; `bash bench/fleet/run.sh --print-bin` builds and prints it.
# Postgres at ALILO_TEST_PG_DSN (default the local server's `test` database);
# S3 at ALILO_TEST_S3_ENDPOINT if set. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
export FLEET_AGENTS="${FLEET_AGENTS:-1000}" FLEET_RUNS="${FLEET_RUNS:-100}" FLEET_KILLED="${FLEET_KILLED:-20}"
profile=(--cargo-profile release)
if [ "${PROFILE:-release}" = test ]; then profile=(); fi
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
test_name=fleet_scale::bench_fleet_full_scale
if [ "${1:-}" = --print-bin ]; then
  cargo nextest list -p alilo-local --test api "${profile[@]}" --message-format json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(next(s["binary-path"] for s in d["rust-suites"].values() if s["binary-name"]=="api"))'
  exit 0
fi
# 1,000 listeners plus the controller's connections to them.
ulimit -n 20000 2>/dev/null || true
echo "== $FLEET_AGENTS agents, $FLEET_RUNS runs x 100 jobs, $FLEET_KILLED killed; load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${FLEET_BIN:-}" ]; then
  out=$(cd local && "$FLEET_BIN" --ignored --exact --nocapture --test-threads 1 "$test_name" 2>&1) \
    || { echo "$out" | tail -40; exit 1; }
else
  out=$(cargo nextest run -p alilo-local --test api "${profile[@]}" --run-ignored only --no-capture \
    --test-threads 1 "$test_name" 2>&1) || { echo "$out" | tail -40; exit 1; }
fi
line=$(echo "$out" | grep '^FLEET-FIGURES ' | tail -1 | cut -d' ' -f2-)
echo "$line" | python3 -m json.tool
echo "$line" > bench/fleet/last.json
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
