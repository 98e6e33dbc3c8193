#!/usr/bin/env bash
# Extended-script benchmarks, side by side in one run (bench/js/README.md):
#  1. a one-request script: requests per CPU-second of the generator for the
#     script path, the native simple-request path and wrk, on one core
#     (generator pinned to CPU 0, nginx to CPU 1), with ratios (goal: script
#     >= 0.5x native);
#  2. memory per VU: ~1,000 VUs busy on a target answering in 100 ms
#     (10,000 it/s x 0.1 s), max RSS of the script run minus the same load
#     as simple requests, divided by the VUs allocated (goal <= 0.5 MiB);
#  3. iteration start lag p99 at 1,000 iterations/s (goal < 2 ms);
#  4. a 5-request flow (login, list, item, order, order check) with JSON
#     parsing and checks: iterations/s and per CPU-second on 1 worker (CPU 0)
#     and 2 workers (CPUs 0-1), and the scaling between them.
#   DURATION (default 10s)  VUS (default 64)  ROUNDS (default 2)
#   ONLY="lag flow" runs only those sections (throughput memory lag flow);
#   AGENT=path uses a prebuilt release agent (no cargo: a quiet-window run).
source "$(dirname "$0")/../agent/common.sh"
DURATION="${DURATION:-10s}"; VUS="${VUS:-64}"; ROUNDS="${ROUNDS:-2}"
ONLY="${ONLY:-throughput memory lag flow}"
want() { [[ " $ONLY " == *" $1 "* ]]; }
if [[ -z "${AGENT:-}" ]]; then build_agent; fi
want throughput && need_wrk
start_nginx 1
URL="http://127.0.0.1:$NGINX_PORT/"
cat > "$WORK/one.js" <<JS
import http from "k6/http";
export default function () { http.get("$URL"); }
JS
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if want throughput; then
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
fi

# 2. Memory per VU.
if want memory; then
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
fi

# 3. Start lag of iterations at 1,000/s (the open-model scheduler's lag,
#    measured from each iteration's intended instant to its start).
if want lag; then
for round in $(seq "$ROUNDS"); do
taskset -c 0 "$AGENT" run "$WORK/one.js" --rps 1000 --max-vus 200 --duration "$DURATION" --workers 1 --quiet --json > "$WORK/lag.json" 2>/dev/null
echo "lag      1000 it/s: iteration start lag p99 $(json "$WORK/lag.json" "d['summary']['schedule_lag']['p99']") ms, max $(json "$WORK/lag.json" "d['summary']['schedule_lag']['max']") ms (goal p99 < 2 ms); $(json "$WORK/lag.json" "d['summary']['sent']") requests, $(json "$WORK/lag.json" "d['summary']['dropped']") dropped"
taskset -c 0 "$AGENT" run --url "$URL" --rps 1000 --max-vus 200 --duration "$DURATION" --workers 1 --quiet --json > "$WORK/lag-native.json" 2>/dev/null
echo "lag      1000 req/s, simple requests (same machine, same moment): p99 $(json "$WORK/lag-native.json" "d['summary']['schedule_lag']['p99']") ms, max $(json "$WORK/lag-native.json" "d['summary']['schedule_lag']['max']") ms"
done
fi

# 4. A realistic flow: 5 requests, each response's JSON parsed and checked
#    (nginx answers fixed JSON documents), run by $VUS looping VUs
#    (constant-vus, no think time), so the figure is the generator's
#    throughput.
if want flow; then
F="http://127.0.0.1:$NGINX_PORT"
cat > "$WORK/flow.js" <<JS
import http from "k6/http";
import { check } from "k6";
const H = { headers: { "Content-Type": "application/json" } };
export default function () {
  const login = http.post("$F/login", JSON.stringify({ user: "u" + __VU, password: "secret" }), H);
  check(login, { "login 200": (r) => r.status === 200 });
  const auth = { headers: { Authorization: "Bearer " + login.json("token"), "Content-Type": "application/json" } };
  const items = http.get("$F/items", auth);
  const list = items.json("items");
  check(items, { "items listed": () => list.length === 5 });
  const pick = list[__ITER % list.length];
  const item = http.get("$F/items/" + pick.id, { headers: auth.headers, tags: { name: "$F/items/:id" } });
  check(item, { "item in stock": (r) => r.json("stock") > 0 });
  const order = http.post("$F/orders", JSON.stringify({ item: pick.id, qty: 1 }), auth);
  check(order, { "order created": (r) => r.json("status") === "created" });
  const back = http.get("$F/orders/" + order.json("id"), { headers: auth.headers, tags: { name: "$F/orders/:id" } });
  check(back, { "order confirmed": (r) => r.json("state") === "confirmed" });
}
JS
flow() { # CPUS WORKERS
    cpu_of "$WORK/flow-$2.json" taskset -c "$1" "$AGENT" run "$WORK/flow.js" --vus "$VUS" --duration "$DURATION" --workers "$2" --quiet --json
}
for round in $(seq "$ROUNDS"); do
    for w in 1 2; do
        cpus=$([[ $w == 1 ]] && echo 0 || echo 0,1)
        cpu=$(flow "$cpus" "$w")
        echo "$w $cpu $(json "$WORK/flow-$w.json" "sum(b['script']['iterations'] for b in d['buckets'] if b.get('script')), d['summary']['duration_s'], sum(sum(c['fails'] for c in b['script'].get('checks', {}).values()) for b in d['buckets'] if b.get('script'))" | tr -d '(),')" >> "$WORK/flow"
    done
done
python3 - "$WORK/flow" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    w, cpu, it, s, fails = line.split(); w, cpu, it, s, fails = int(w), float(cpu), float(it), float(s), int(float(fails))
    print(f"flow     {w} worker(s): {it/s:8.0f} iterations/s ({5*it/s:8.0f} req/s), {it/cpu:8.0f} iterations per CPU-s, {fails} failed checks")
    b = best.setdefault(w, [0.0, 0.0]); b[0] = max(b[0], it / s); b[1] = max(b[1], it / cpu)
if 1 in best and 2 in best:
    print(f"flow     scaling 1 -> 2 workers: {best[2][0]/best[1][0]:.2f}x iterations/s, {best[2][1]/best[1][1]:.2f}x per CPU-s (nginx shares CPU 1 in the 2-worker run)")
PY
fi
