#!/usr/bin/env bash
# Verdict benchmarks (#12): the report of a 1 h run of 20 scripts (time, size),
# whole-run figures sparse vs HDR (ratio), threshold evaluation per pass, and
# the /metrics scrape over HTTP + Postgres with 100 active script runs.
# Needs Postgres on 127.0.0.1:5432 (and ALILO_TEST_S3_* or the embedded S3).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p alilo-shared --bench verdicts
cargo nextest run -p alilo-local --test api --run-ignored only metrics_scrape_bench --no-capture
