#!/usr/bin/env bash
# Run-core benchmarks (issue 11), before and after in one run, with ratios:
#   - /v1/run/adjustment and /v1/run/start latency while one of two agents is black-holed;
#   - one controller pass over 100 active runs (one script each) on 10 agents.
# "Before" is BEFORE_REF (default: the parent of the commit that added
# shared/src/control/pass.rs, i.e. the code that held a lock across agent
# calls); "after" is the working tree. The benchmark
# file local/tests/api/bench_core.rs is self-contained, so it is copied into a
# worktree of BEFORE_REF and run there unchanged. Debug test builds (the test
# profile), Postgres at ALILO_TEST_PG_DSN, agents and target in process.
#   BEFORE_REF=<git ref>  BEFORE_TARGET_DIR=<dir> (a cargo target dir of its own)
#   ADJUSTMENTS=20 (adjustments per side; before, each can wait 6 s on the dead agent)
#   ONLY=bench_controller|bench_adjustment (one of the two benchmarks)
#   PROFILE=release (a cargo profile for both sides; default: the test profile)
#   AFTER_ONLY=1 (skip the before side: re-measure the working tree alone)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
before_ref="${BEFORE_REF:-$(git rev-parse "$(git log --diff-filter=A --format=%H -- shared/src/control/pass.rs | tail -1)^")}"
before_dir="${BEFORE_DIR:-/tmp/alilo-bench-before-$(git rev-parse --short "$before_ref")}"
before_target="${BEFORE_TARGET_DIR:-${CARGO_TARGET_DIR}-before}"
export ADJUSTMENTS="${ADJUSTMENTS:-20}"

run() { # dir target-dir -> the benchmark lines
  (cd "$1" && CARGO_TARGET_DIR="$2" nice -n 5 cargo nextest run ${PROFILE:+--cargo-profile "$PROFILE"} \
      -p alilo-local --test api --run-ignored only \
      --no-capture --test-threads 1 "bench_core::${ONLY:-}" 2>&1) | grep -E '^(adjustment|start|controller|pass|loop)' || true
}

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg), profile: ${PROFILE:-test}"
before=""
if [ -z "${AFTER_ONLY:-}" ]; then
  if [ ! -d "$before_dir" ]; then git worktree add --detach "$before_dir" "$before_ref" >/dev/null; fi
  # The part marked after-only uses what BEFORE_REF does not have.
  sed '/after-only:begin/,/after-only:end/d' local/tests/api/bench_core.rs > "$before_dir/local/tests/api/bench_core.rs"
  grep -q '^mod bench_core;' "$before_dir/local/tests/api/main.rs" \
    || sed -i 's/^mod bench_runs;/mod bench_core;\nmod bench_runs;/' "$before_dir/local/tests/api/main.rs"
  echo "== before ($(git rev-parse --short "$before_ref"))"
  before=$(run "$before_dir" "$before_target"); echo "$before"
fi
echo "== after (working tree)"
after=$(run "$root" "$CARGO_TARGET_DIR"); echo "$after"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

pick() { echo "$1" | grep "^$2" | sed -E "s/.* $3 ([0-9.]+) ms.*/\1/" || true; }
echo "== ratios (before / after)"
for spec in "adjustment:p99" "adjustment:p50" "start:p99" "start:p50" "controller:median" "loop controller:median"; do
  key=${spec%%:*}; stat=${spec##*:}
  b=$(pick "$before" "$key" "$stat"); a=$(pick "$after" "$key" "$stat")
  if [ -n "$b" ] && [ -n "$a" ]; then
    awk -v k="$key $stat" -v b="$b" -v a="$a" 'BEGIN { printf "%-22s before %9.1f ms  after %8.1f ms  ratio %7.1fx\n", k, b, a, b / a }'
  fi
done
