#!/usr/bin/env bash
# The guard's cost per request, in process (no sockets, no load generator):
# alilo-local's router on /v1/auth/me (no database in the handler) with
# --no-auth, a viewer's bearer token and a viewer's session cookie, rounds
# alternating. See local/tests/api/bench_auth.rs; figures in RESULTS.md.
#
#   bench/auth/inprocess.sh                  # debug build (what the tests build)
#   PROFILE=release bench/auth/inprocess.sh  # a release build of the test binary
#   BENCH_AUTH_CALLS=50000 bench/auth/inprocess.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
profile=()
[[ ${PROFILE:-debug} == release ]] && profile=(--cargo-profile release)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo nextest run -p alilo-local "${profile[@]}" --run-ignored only --no-capture \
  -E 'test(the_guard_costs_per_request)' 2>&1 | grep -E '^(guard cost|  (no-auth|bearer|cookie)|           p90)'
echo "machine after: load $(cut -d' ' -f1-3 /proc/loadavg)"
