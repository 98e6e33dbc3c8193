#!/usr/bin/env bash
# Runs every agent benchmark in sequence (one at a time: they share 2 cores).
# Shorten with DURATION (applies to 2, 3 and 5; 1 uses its own default).
set -euo pipefail
cd "$(dirname "$0")"
for b in 1-throughput 2-rate-accuracy 3-coordinated-omission 4-rate-change 5-memory; do
    echo "=== $b"
    bash "./$b.sh"
done
