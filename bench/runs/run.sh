#!/usr/bin/env bash
# Run-control benchmarks (issue 5): start latency (50 scripts, 4 agents),
# adjustment propagation, one controller pass (100 script runs, 10 agents), and
# metric storage per script-hour. They run as ignored tests of alilo-local's
# integration binary against the local Postgres (ALILO_TEST_PG_DSN, default
# postgres://postgres@127.0.0.1:5432/test) with real agents in process, and print
# their figures. Record them in bench/runs/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
cargo nextest run -p alilo-local --run-ignored only --no-capture --test-threads 1 bench_runs 2>&1 \
    | grep -E '^(start|adjustment|pass|controller|storage)'
