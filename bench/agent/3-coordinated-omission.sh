#!/usr/bin/env bash
# Benchmark 3: coordinated omission. 1k RPS for DURATION (default 20s)
# against alilo-agent's target server stalling 500 ms every 5 s. Reports the
# agent's corrected (from intended send time) and service (from actual send)
# p99, and oha's p99 with and without --latency-correction at the same rate.
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-20s}"; RATE="${RATE:-1000}"
build_agent; need_oha
start_target --stall-every 5s --stall-for 500ms
URL="http://127.0.0.1:$TARGET_PORT/"
echo "coordinated omission: $RATE rps for $DURATION, target stalls 500 ms every 5 s"
"$AGENT" run --url "$URL" --rps "$RATE" --duration "$DURATION" --max-vus 5000 --quiet --json > "$WORK/a.json" 2>/dev/null
json "$WORK/a.json" "'alilo-agent  corrected p99 %.1f ms   service p99 %.1f ms   (p50 %.2f / %.2f ms, max %.1f / %.1f ms, sent %d)' % (d['summary']['latency']['p99'], d['summary']['service']['p99'], d['summary']['latency']['p50'], d['summary']['service']['p50'], d['summary']['latency']['max'], d['summary']['service']['max'], d['summary']['sent'])"
for mode in --latency-correction ""; do
    "$OHA" -z "$DURATION" -q "$RATE" -c 50 $mode --no-tui --output-format json "$URL" > "$WORK/o.json" 2>/dev/null
    json "$WORK/o.json" "'oha ${mode:-(no correction)}  p99 %.1f ms   p50 %.2f ms   max %.1f ms   requests %d' % (d['latencyPercentiles']['p99']*1000, d['latencyPercentiles']['p50']*1000, d['summary']['slowest']*1000, sum(d['statusCodeDistribution'].values()))"
done
