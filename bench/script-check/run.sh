#!/usr/bin/env bash
# Save-time check of an extended script (QuickJS compile + import check) vs
# Node's parser on the same text, in one run; prints both and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
ours=$(cargo bench -q -p alilo-script-check --bench check 2>/dev/null)
echo "$ours"
large="${TMPDIR:-/tmp}/alilo-large.js"
if command -v node >/dev/null; then
    peer=$(node --experimental-vm-modules --no-warnings bench/script-check/peer.mjs bench/script-check/flow.js "$large")
    echo "$peer"
    for f in flow.js large.js; do
        a=$(grep "check_module $f" <<<"$ours" | sed -E 's/.*: ([0-9]+) µs.*/\1/')
        b=$(grep "SourceTextModule $f" <<<"$peer" | sed -E 's/.*: ([0-9]+) µs.*/\1/')
        awk -v a="$a" -v b="$b" -v f="$f" 'BEGIN { printf "%s: alilo check / node parse = %.2f\n", f, a / b }'
    done
else
    echo "node not found: no peer figures"
fi
