#!/usr/bin/env bash
# Benchmark 1: closed-loop throughput per core. nginx on CPU 1, the generator
# pinned to CPU 0, same connections, same duration: alilo-agent vs wrk vs oha,
# interleaved for ROUNDS rounds. Reports each round's requests/s and requests
# per CPU-second of the generator (the latter is robust to other load on the
# machine), then the best of the rounds and the ratios.
#   DURATION (default 10s)  CONNECTIONS (default 50)  ROUNDS (default 3)
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-10s}"; C="${CONNECTIONS:-50}"; ROUNDS="${ROUNDS:-3}"
build_agent; need_wrk; need_oha; start_nginx 1
URL="http://127.0.0.1:$NGINX_PORT/"
echo "throughput: $C connections, $DURATION, generator on CPU 0, nginx on CPU 1, $ROUNDS rounds"
: > "$WORK/results"
for round in $(seq "$ROUNDS"); do
    cpu=$(cpu_of "$WORK/agent.json" taskset -c 0 "$AGENT" run --url "$URL" -c "$C" --duration "$DURATION" --workers 1 --quiet --json)
    n=$(json "$WORK/agent.json" "d['summary']['ok']"); s=$(json "$WORK/agent.json" "d['summary']['duration_s']")
    echo "alilo-agent $n $s $cpu" >> "$WORK/results"
    cpu=$(cpu_of "$WORK/wrk.txt" taskset -c 0 "$WRK" -t1 -c"$C" -d"$DURATION" "$URL")
    n=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt"); s=$(awk '/requests in/ {sub(/s,/,"",$4); print $4}' "$WORK/wrk.txt")
    echo "wrk $n $s $cpu" >> "$WORK/results"
    cpu=$(cpu_of "$WORK/oha.json" taskset -c 0 "$OHA" -z "$DURATION" -c "$C" --no-tui --output-format json "$URL")
    n=$(json "$WORK/oha.json" "sum(d['statusCodeDistribution'].values())"); s=$(json "$WORK/oha.json" "d['summary']['total']")
    echo "oha $n $s $cpu" >> "$WORK/results"
    tail -3 "$WORK/results" | awk -v r="$round" '{printf "round %s  %-12s %9.0f req/s  %9.0f req/CPU-s\n", r, $1, $2/$3, $2/$4}'
done
python3 - "$WORK/results" <<'PY'
import sys, collections
best = collections.defaultdict(lambda: [0.0, 0.0])
for line in open(sys.argv[1]):
    tool, n, s, cpu = line.split(); n, s, cpu = float(n), float(s), float(cpu)
    b = best[tool]; b[0] = max(b[0], n / s); b[1] = max(b[1], n / cpu)
a, w, o = best["alilo-agent"], best["wrk"], best["oha"]
print(f"best     alilo-agent {a[0]:9.0f} req/s ({a[1]:9.0f}/CPU-s)   wrk {w[0]:9.0f} ({w[1]:9.0f}/CPU-s)   oha {o[0]:9.0f} ({o[1]:9.0f}/CPU-s)")
print(f"ratios   agent/wrk {a[0]/w[0]:.2f} req/s, {a[1]/w[1]:.2f} per CPU-s;   agent/oha {a[0]/o[0]:.2f} req/s, {a[1]/o[1]:.2f} per CPU-s")
PY
