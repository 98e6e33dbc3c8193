#!/usr/bin/env bash
# Benchmark 4: rate-change latency. The daemon runs a 1k RPS job against
# alilo-agent's target server, which counts requests per 10 ms. At t=4 s the
# scale goes to 2 (2k RPS), at t=8 s to 0.5 (500 RPS). For each change:
# time from just before the API call to the start of the first 100 ms window
# whose rate is within 10 % of the new rate, as seen by the target.
source "$(dirname "$0")/common.sh"
build_agent
start_target --rate-log "$WORK/rate.log"
URL="http://127.0.0.1:$TARGET_PORT/"
PORT=18899
"$AGENT" serve --bind 127.0.0.1 --port $PORT --insecure-no-auth > "$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v1/agent" >/dev/null 2>&1 && break; sleep 0.1; done
API="http://127.0.0.1:$PORT/v1/jobs/rc"
now_ms() { date +%s%3N; }
curl -fs -X PUT "$API" -d "{\"request\":{\"url\":\"$URL\"},\"profile\":{\"rps\":1000,\"duration\":\"12s\"},\"lease\":\"0\"}" >/dev/null
sleep 4
t1=$(now_ms); curl -fs -X POST "$API/rate" -d '{"scale":2}' >/dev/null
sleep 4
t2=$(now_ms); curl -fs -X POST "$API/rate" -d '{"scale":0.5}' >/dev/null
sleep 2
curl -fs -X POST "$API/stop" >/dev/null
kill "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null || true
python3 - "$WORK/rate.log" "$t1" 2000 "$t2" 500 <<'PY'
import sys
counts = {}
for line in open(sys.argv[1]):
    ms, n = map(int, line.split()); counts[ms] = n
def observe(t, rate):
    # Start of the first 100 ms window (10 ms steps, from t) whose rate is
    # within 10 % of the new rate.
    start = t - t % 10
    for k in range(0, 3000, 10):
        w = sum(counts.get(start + k + j, 0) for j in range(0, 100, 10))
        if abs(w * 10 - rate) <= 0.1 * rate:
            return max(0, start + k - t)
    return None
for t, rate in [(int(sys.argv[2]), int(sys.argv[3])), (int(sys.argv[4]), int(sys.argv[5]))]:
    lat = observe(t, rate)
    print(f"change to {rate:5d} rps: new rate observed at the target within {lat} ms (first 100 ms window within ±10 %, from just before the API call)")
PY
