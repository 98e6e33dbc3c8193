#!/usr/bin/env bash
# Parse throughput of the cURL importer on a real 4 KB browser command, side by side
# with a peer: Python's shlex.split (word splitting only, no curl semantics) on the
# same text. The importer runs when a user pastes a command, so it must stay far
# below the UI's request latency (milliseconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
ours=$(cargo bench -q -p alilo-shared --bench import 2>/dev/null | grep 'import/parse_curl')
echo "$ours"
us=$(echo "$ours" | sed -E 's/.* ([0-9.]+) µs per command.*/\1/')
peer=$(python3 - <<'PY'
import shlex, time
text = open("bench/import/chrome-4k.curl").read()
n = 2000
shlex.split(text)
start = time.perf_counter()
for _ in range(n):
    shlex.split(text)
print(f"{(time.perf_counter() - start) / n * 1e6:.1f}")
PY
)
echo "peer python shlex.split (split only): ${peer} µs per command"
awk -v a="$us" -v b="$peer" 'BEGIN { printf "alilo full parse / shlex split only: %.2fx the time (lower is faster)\n", a / b }'
