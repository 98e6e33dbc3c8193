#!/usr/bin/env bash
# Extended-script benchmarks, side by side in one run (bench/js/README.md):
#  1. a one-request script: requests per CPU-second of the generator for the
#     script path, the native simple-request path and wrk, on one core
#     (generator pinned to CPU 0, nginx to CPU 1), with ratios (goal: script
#     >= 0.5x native);
#  2. memory per VU: ~1,000 VUs busy on a target answering in 100 ms
#     (10,000 it/s x 0.1 s), max RSS of the script run minus the same load
#     as simple requests, divided by the VUs allocated (goal <= 0.5 MiB);
#  3. iteration start lag p99 at 1,000 iterations/s (goal < 2 ms).
#   DURATION (default 10s)  VUS (default 64)  ROUNDS (default 2)
source "$(dirname "$0")/../agent/common.sh"
DURATION="${DURATION:-10s}"; VUS="${VUS:-64}"; ROUNDS="${ROUNDS:-2}"
build_agent; need_wrk; start_nginx 1
URL="http://127.0.0.1:$NGINX_PORT/"
cat > "$WORK/one.js" <<JS
import http from "k6/http";
export default function () { http.get("$URL"); }
JS
echo "js bench: one-request script vs native vs wrk, $DURATION, $VUS VUs/connections, CPU 0, $ROUNDS rounds"
: > "$WORK/results"
for round in $(seq "$ROUNDS"); do
    # An open-model rate far above what one core does: throughput-bound.
    cpu=$(cpu_of "$WORK/script.json" taskset -c 0 "$AGENT" run "$WORK/one.js" --rps 400000 --max-vus "$VUS" --duration "$DURATION" --workers 1 --quiet --json)
    n=$(json "$WORK/script.json" "d['summary']['sent']"); s=$(json "$WORK/script.json" "d['summary']['duration_s']")
    echo "script $n $s $cpu" >> "$WORK/results"
    cpu=$(cpu_of "$WORK/native.json" taskset -c 0 "$AGENT" run --url "$URL" --rps 400000 --max-vus "$VUS" --duration "$DURATION" --workers 1 --quiet --json)
    n=$(json "$WORK/native.json" "d['summary']['sent']"); s=$(json "$WORK/native.json" "d['summary']['duration_s']")
    echo "native $n $s $cpu" >> "$WORK/results"
    cpu=$(cpu_of "$WORK/wrk.txt" taskset -c 0 "$WRK" -t1 -c"$VUS" -d"$DURATION" "$URL")
    n=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt"); s=$(awk '/requests in/ {sub(/s,/,"",$4); print $4}' "$WORK/wrk.txt")
    echo "wrk $n $s $cpu" >> "$WORK/results"
    tail -3 "$WORK/results" | awk -v r="$round" '{printf "round %s  %-7s %9.0f req/s  %9.0f req/CPU-s\n", r, $1, $2/$3, $2/$4}'
done
python3 - "$WORK/results" <<'PY'
import sys, collections
best = collections.defaultdict(lambda: [0.0, 0.0])
for line in open(sys.argv[1]):
    tool, n, s, cpu = line.split(); n, s, cpu = float(n), float(s), float(cpu)
    b = best[tool]; b[0] = max(b[0], n / s); b[1] = max(b[1], n / cpu)
j, n, w = best["script"], best["native"], best["wrk"]
print(f"best     script {j[0]:9.0f} req/s ({j[1]:9.0f}/CPU-s)   native {n[0]:9.0f} ({n[1]:9.0f}/CPU-s)   wrk {w[0]:9.0f} ({w[1]:9.0f}/CPU-s)")
print(f"ratios   script/native {j[1]/n[1]:.2f} per CPU-s (goal >= 0.5);   script/wrk {j[1]/w[1]:.2f} per CPU-s")
PY
# 2. Memory per VU.
start_target --delay 100ms
SLOW="http://127.0.0.1:$TARGET_PORT/"
cat > "$WORK/slow.js" <<JS
import http from "k6/http";
export default function () { http.get("$SLOW"); }
JS
MEMDUR="${MEMDUR:-8s}"
kb_s=$(maxrss_of "$WORK/mem-script.json" "$AGENT" run "$WORK/slow.js" --rps 10000 --max-vus 1200 --duration "$MEMDUR" --quiet --json)
kb_n=$(maxrss_of "$WORK/mem-native.json" "$AGENT" run --url "$SLOW" --rps 10000 --max-vus 1200 --duration "$MEMDUR" --quiet --json)
vus=$(json "$WORK/mem-script.json" "max(b['script']['vus_max'] for b in d['buckets'] if b.get('script'))")
python3 - "$kb_s" "$kb_n" "$vus" <<'PY'
import sys
s, n, v = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"memory   script max RSS {s/1024:.1f} MiB, simple requests {n/1024:.1f} MiB, {v:.0f} VUs: {(s-n)/1024/max(v,1):.3f} MiB per VU (goal <= 0.5)")
PY

# 3. Start lag of iterations at 1,000/s (the open-model scheduler's lag,
#    measured from each iteration's intended instant to its start).
taskset -c 0 "$AGENT" run "$WORK/one.js" --rps 1000 --max-vus 200 --duration "$DURATION" --workers 1 --quiet --json > "$WORK/lag.json"
echo "lag      1000 it/s: iteration start lag p99 $(json "$WORK/lag.json" "d['summary']['schedule_lag']['p99']") ms, max $(json "$WORK/lag.json" "d['summary']['schedule_lag']['max']") ms (goal p99 < 2 ms); $(json "$WORK/lag.json" "d['summary']['sent']") requests, $(json "$WORK/lag.json" "d['summary']['dropped']") dropped"
taskset -c 0 "$AGENT" run --url "$URL" --rps 1000 --max-vus 200 --duration "$DURATION" --workers 1 --quiet --json > "$WORK/lag-native.json"
echo "lag      1000 req/s, simple requests (same machine, same moment): p99 $(json "$WORK/lag-native.json" "d['summary']['schedule_lag']['p99']") ms, max $(json "$WORK/lag-native.json" "d['summary']['schedule_lag']['max']") ms"
