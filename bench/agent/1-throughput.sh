#!/usr/bin/env bash
# Benchmark 1: closed-loop throughput per core. nginx on CPU 1, the generator
# pinned to CPU 0, same connections, same duration: alilo-agent vs wrk vs oha.
#   DURATION (default 10s)  CONNECTIONS (default 50)  ROUNDS (default 1)
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-10s}"; C="${CONNECTIONS:-50}"; ROUNDS="${ROUNDS:-1}"
build_agent; need_wrk; need_oha; start_nginx 1
URL="http://127.0.0.1:$NGINX_PORT/"
secs="${DURATION%s}"
echo "throughput: $C connections, $DURATION, generator on CPU 0, nginx on CPU 1"
for round in $(seq "$ROUNDS"); do
    taskset -c 0 "$AGENT" run --url "$URL" -c "$C" --duration "$DURATION" --workers 1 --quiet --json > "$WORK/agent.json" 2>/dev/null
    agent=$(json "$WORK/agent.json" "d['summary']['ok']/d['summary']['duration_s']")
    wrk_out=$(taskset -c 0 "$WRK" -t1 -c"$C" -d"$DURATION" "$URL")
    wrk=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
    taskset -c 0 "$OHA" -z "$DURATION" -c "$C" --no-tui --output-format json --worker-threads 1 "$URL" > "$WORK/oha.json"
    oha=$(json "$WORK/oha.json" "d['summary']['requestsPerSec']")
    printf 'round %s  alilo-agent %10.0f req/s   wrk %10.0f req/s   oha %10.0f req/s   agent/wrk %s   agent/oha %s\n' \
        "$round" "$agent" "$wrk" "$oha" "$(ratio "$agent" "$wrk")" "$(ratio "$agent" "$oha")"
done
