#!/usr/bin/env bash
# Benchmark 2: rate accuracy of the open model against nginx (CPU 1) at 1k,
# 10k and a high rate (default: 70 % of a 3 s closed-loop maximum measured
# first, or HIGH_RPS), each for DURATION (default 20s). For each: achieved ÷
# asked, p95 of the per-second deviation |sent − target| ÷ target (first and
# last second left out), schedule lag p99. Peer: oha -q at the same rate
# (achieved ÷ asked only; oha has no per-second or lag figures).
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-20s}"
build_agent; need_oha; start_nginx 1
URL="http://127.0.0.1:$NGINX_PORT/"
secs="${DURATION%s}"
if [[ -z "${HIGH_RPS:-}" ]]; then
    taskset -c 0 "$AGENT" run --url "$URL" -c 50 --duration 3s --workers 1 --quiet --json > "$WORK/max.json" 2>/dev/null
    HIGH_RPS=$(json "$WORK/max.json" "int(d['summary']['ok']/d['summary']['duration_s']*0.7/1000)*1000")
fi
echo "rate accuracy: $DURATION per rate, agent on CPU 0, nginx on CPU 1"
printf '%-8s %-14s %-12s %-12s %-14s %-14s\n' rate achieved/asked dev-p95 lag-p99-ms lag-max-ms oha-ach/asked
for rate in 1000 10000 "$HIGH_RPS"; do
    taskset -c 0 "$AGENT" run --url "$URL" --rps "$rate" --duration "$DURATION" --max-vus 5000 --workers 1 --quiet --json > "$WORK/r.json" 2>/dev/null
    line=$(python3 - "$WORK/r.json" "$rate" "$secs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); rate = float(sys.argv[2]); secs = float(sys.argv[3])
s = d["summary"]
b = [x for x in d["buckets"] if 0 < x["second"] < secs - 1]
dev = sorted(abs(x["sent"] - rate) / rate for x in b)
p95 = dev[min(len(dev) - 1, int(0.95 * len(dev)))] if dev else float("nan")
print(f'{s["sent"]/(rate*secs):.4f} {p95*100:.2f}% {s["schedule_lag"]["p99"]:.3f} {s["schedule_lag"]["max"]:.3f}')
PY
)
    taskset -c 0 "$OHA" -z "$DURATION" -q "$rate" -c 200 --no-tui --output-format json --worker-threads 1 "$URL" > "$WORK/oha.json" 2>/dev/null || true
    oha=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['summary']['requestsPerSec']*d['summary']['total']/d['summary']['total']/float(sys.argv[2]):.4f}\")" "$WORK/oha.json" "$rate" 2>/dev/null || echo n/a)
    read -r ach dev lag lagmax <<<"$line"
    printf '%-8s %-14s %-12s %-12s %-14s %-14s\n' "$rate" "$ach" "$dev" "$lag" "$lagmax" "$oha"
done
