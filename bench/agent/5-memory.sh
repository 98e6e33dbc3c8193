#!/usr/bin/env bash
# Benchmark 5: memory. 10k RPS against alilo-agent's target server answering
# after 100 ms (so ~1,000 requests in flight) for DURATION (default 5m). RSS of
# the agent sampled every 5 s: first (after 10 s), max, last. MAX_VUS (1500)
# caps what is in flight when the target falls behind.
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-5m}"; RATE="${RATE:-10000}"; MAX_VUS="${MAX_VUS:-1500}"
build_agent
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_target --delay 100ms
URL="http://127.0.0.1:$TARGET_PORT/"
"$AGENT" run --url "$URL" --rps "$RATE" --duration "$DURATION" --max-vus "$MAX_VUS" --quiet --json > "$WORK/m.json" 2>/dev/null &
APID=$!; PIDS+=($APID)
: > "$WORK/rss"
while kill -0 "$APID" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$APID/status" 2>/dev/null >> "$WORK/rss" || true
    sleep 5
done
wait "$APID" || true
python3 - "$WORK/rss" "$WORK/m.json" "$RATE" <<'PY'
import json, sys
rss = [int(x) for x in open(sys.argv[1]) if x.strip()]
d = json.load(open(sys.argv[2])); s = d["summary"]
steady = rss[2:] or rss
print(f"rate {sys.argv[3]} rps for {s['duration_s']:.0f}s: sent {s['sent']}, ok {s['ok']}, dropped {s['dropped']}, "
      f"achieved {s['achieved_rps']:.0f}/s, corrected p99 {s['latency']['p99']:.1f} ms")
print(f"RSS MiB: first(10s) {steady[0]/1024:.1f}  max {max(steady)/1024:.1f}  last {steady[-1]/1024:.1f}  samples {len(rss)}")
print("RSS MiB every 30 s: " + " ".join(f"{x/1024:.0f}" for x in rss[::6]))
PY
