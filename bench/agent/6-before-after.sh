#!/usr/bin/env bash
# Benchmark 6: an agent change measured against the agent before it, with wrk
# beside both, in one run. nginx on CPU 1, the generator pinned to CPU 0.
#   1. Closed-loop throughput (CONNECTIONS, DURATION, ROUNDS rounds, the three
#      tools interleaved round by round): requests/s and requests per
#      CPU-second of the generator; best of the rounds; ratios.
#   2. Open model at RATES (default 10000 and 40000 rps) for RATE_DURATION:
#      achieved ÷ asked and schedule lag p99, before and after.
# The "before" agent is BEFORE_BIN, or built from git revision BEFORE_REV
# (default 03a8b11, the agent before it was split in layers) in a target
# directory of its own (BEFORE_TARGET), so the shared build cache's
# fingerprints are left alone. AFTER_BIN skips building the current tree.
#   DURATION (10s)  CONNECTIONS (50)  ROUNDS (3)  RATES ("10000 40000")  RATE_DURATION (10s)
source "$(dirname "$0")/common.sh"
DURATION="${DURATION:-10s}"; C="${CONNECTIONS:-50}"; ROUNDS="${ROUNDS:-3}"
RATES="${RATES:-10000 40000}"; RATE_DURATION="${RATE_DURATION:-10s}"
BEFORE_REV="${BEFORE_REV:-03a8b11}"; BEFORE_TARGET="${BEFORE_TARGET:-/tmp/alilo-agent-before-target}"

if [[ -z "${BEFORE_BIN:-}" ]]; then
    src="$BEFORE_TARGET/src-$BEFORE_REV"
    if [[ ! -x "$BEFORE_TARGET/release/alilo-agent-$BEFORE_REV" ]]; then
        echo "building the agent of $BEFORE_REV into $BEFORE_TARGET (once)" >&2
        rm -rf "$src"; mkdir -p "$src"
        git -C "$ROOT" archive "$BEFORE_REV" | tar -x -C "$src"
        (cd "$src" && CARGO_TARGET_DIR="$BEFORE_TARGET" cargo build --release -q -p alilo-agent)
        cp "$BEFORE_TARGET/release/alilo-agent" "$BEFORE_TARGET/release/alilo-agent-$BEFORE_REV"
    fi
    BEFORE_BIN="$BEFORE_TARGET/release/alilo-agent-$BEFORE_REV"
fi
if [[ -n "${AFTER_BIN:-}" ]]; then AGENT="$AFTER_BIN"; else build_agent; fi
need_wrk; start_nginx 1
AFTER_BIN="$AGENT"
URL="http://127.0.0.1:$NGINX_PORT/"
echo "before: $BEFORE_BIN ($BEFORE_REV)   after: $AFTER_BIN"
echo "machine: $(uptime)"

echo "1. throughput: $C connections, $DURATION, generator on CPU 0, nginx on CPU 1, $ROUNDS rounds"
: > "$WORK/results"
agent_round() { # name binary
    local cpu n s
    cpu=$(cpu_of "$WORK/$1.json" taskset -c 0 "$2" run --url "$URL" -c "$C" --duration "$DURATION" --workers 1 --quiet --json)
    n=$(json "$WORK/$1.json" "d['summary']['ok']"); s=$(json "$WORK/$1.json" "d['summary']['duration_s']")
    echo "$1 $n $s $cpu" >> "$WORK/results"
}
for round in $(seq "$ROUNDS"); do
    agent_round before "$BEFORE_BIN"
    agent_round after "$AFTER_BIN"
    cpu=$(cpu_of "$WORK/wrk.txt" taskset -c 0 "$WRK" -t1 -c"$C" -d"$DURATION" "$URL")
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
b, a, w = best["before"], best["after"], best["wrk"]
print(f"best     before {b[0]:9.0f} req/s ({b[1]:9.0f}/CPU-s)   after {a[0]:9.0f} ({a[1]:9.0f}/CPU-s)   wrk {w[0]:9.0f} ({w[1]:9.0f}/CPU-s)")
print(f"ratios   after/before {a[0]/b[0]:.2f} req/s, {a[1]/b[1]:.2f} per CPU-s;   "
      f"after/wrk {a[0]/w[0]:.2f} req/s, {a[1]/w[1]:.2f} per CPU-s;   before/wrk {b[0]/w[0]:.2f} req/s, {b[1]/w[1]:.2f} per CPU-s")
PY

echo "2. open model: $RATE_DURATION per rate, one worker on CPU 0"
printf '%-8s %-7s %-15s %-11s %-11s\n' rate agent achieved/asked lag-p99-ms lag-max-ms
secs="${RATE_DURATION%s}"
for rate in $RATES; do
    for who in before after; do
        bin="$BEFORE_BIN"; [[ $who == after ]] && bin="$AFTER_BIN"
        taskset -c 0 "$bin" run --url "$URL" --rps "$rate" --duration "$RATE_DURATION" --max-vus 5000 --workers 1 --quiet --json > "$WORK/r.json" 2>/dev/null
        line=$(json "$WORK/r.json" "f\"{d['summary']['sent']/($rate*$secs):.4f} {d['summary']['schedule_lag']['p99']:.3f} {d['summary']['schedule_lag']['max']:.3f}\"")
        read -r ach lag lagmax <<<"$line"
        printf '%-8s %-7s %-15s %-11s %-11s\n' "$rate" "$who" "$ach" "$lag" "$lagmax"
    done
done
echo "machine after: $(uptime)"
