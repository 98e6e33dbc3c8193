#!/usr/bin/env bash
# The guard's cost per request in instructions (valgrind callgrind), which the
# machine's load does not change: the in-process benchmark of bench_auth.rs run
# once per variant (no-auth, bearer, cookie), counting only inside its timed
# loop (`--toggle-collect`). Prints instructions per request and the difference.
#
#   bench/auth/instructions.sh              # 2,000 calls x 10 rounds per variant
#   CALLS=5000 bench/auth/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
CALLS="${CALLS:-2000}"
BIN=$(cargo test -q -p alilo-local --test api --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
declare -A per
for v in no-auth bearer cookie; do
  BENCH_AUTH_ONLY=$v BENCH_AUTH_CALLS=$CALLS valgrind -q --tool=callgrind --toggle-collect='*time_calls*' \
    --callgrind-out-file="$WORK/$v.out" "$BIN" --ignored --exact bench_auth::the_guard_costs_per_request >/dev/null 2>&1
  total=$(grep -E '^(summary|totals):' "$WORK/$v.out" | head -1 | awk '{print $2}')
  # 10 rounds of CALLS, plus the warm-up's CALLS/10, all inside time_calls.
  per[$v]=$(python3 -c "print(round($total / ($CALLS * 10 + $CALLS // 10)))")
  echo "$v: $total instructions in time_calls, ${per[$v]} per request"
done
for v in bearer cookie; do
  echo "$v - no-auth: $(( ${per[$v]} - ${per[no-auth]} )) instructions per request (debug build)"
done
