#!/usr/bin/env bash
# Parse throughput of the cURL importer on a real 4 KB browser command, side by side
# with a peer: bash's own parser splitting the same text into words (no curl
# semantics). The importer runs when a user pastes a command, so it must stay far
# below the UI's request latency (milliseconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
ours=$(cargo bench -q -p alilo-shared --bench import 2>/dev/null | grep 'import/parse_curl')
echo "$ours"
us=$(echo "$ours" | sed -E 's/.* ([0-9.]+) µs per command.*/\1/')
peer=$(bash -c '
  cmd=$(<bench/import/chrome-4k.curl)
  n=2000
  eval "words=( ${cmd} )"
  start=$(date +%s%N)
  for ((i = 0; i < n; i++)); do eval "words=( ${cmd} )"; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n=$n -v w=${#words[@]} "BEGIN { printf \"%.1f %d\", ns / 1000 / n, w }"
')
echo "peer: bash's own parser (eval into an array: split only, ${peer#* } words): ${peer% *} µs per command"
peer=${peer% *}
awk -v a="$us" -v b="$peer" 'BEGIN { printf "alilo full parse / bash split only: %.2fx the time (lower is faster)\n", a / b }'
