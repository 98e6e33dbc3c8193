#!/usr/bin/env bash
# Shared helpers of the agent benchmarks: build, locate peers, start nginx.
# Sourced by the numbered scripts; everything listens on loopback only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS="${TOOLS:-$ROOT/.tools}"
WORK="$(mktemp -d /tmp/alilo-bench.XXXXXX)"
NGINX_PORT="${NGINX_PORT:-18181}"
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [[ -f "$WORK/nginx.pid" ]]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
    wait 2>/dev/null || true
}
trap cleanup EXIT

build_agent() {
    (cd "$ROOT" && cargo build --release -q -p alilo-agent)
    AGENT="$CARGO_TARGET_DIR/release/alilo-agent"
}

need_wrk() {
    command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null; }
    WRK="$(command -v wrk)"
}

need_oha() {
    if command -v oha >/dev/null; then OHA="$(command -v oha)"; return; fi
    if [[ ! -x "$TOOLS/bin/oha" ]]; then
        echo "installing oha into $TOOLS (takes a few minutes once)" >&2
        cargo install oha --locked --root "$TOOLS" -q
    fi
    OHA="$TOOLS/bin/oha"
}

# nginx returning a small static 200, pinned to CPU $1 (default 1).
start_nginx() {
    local cpu="${1:-1}"
    command -v nginx >/dev/null || apt-get install -y -q nginx-light >/dev/null
    sed -e "s#@PORT@#$NGINX_PORT#" -e "s#@WORK@#$WORK#" "$HERE/nginx.conf" > "$WORK/nginx.conf"
    taskset -c "$cpu" nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log"
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nginx did not come up" >&2; cat "$WORK/nginx-error.log" >&2; return 1
}

# alilo-agent's own target server (delay / stalls); prints its port.
start_target() {
    local log="$WORK/target.$RANDOM.out"
    "$AGENT" target "$@" > "$log" 2>&1 &
    PIDS+=($!)
    TARGET_PID=$!
    for _ in $(seq 50); do
        if grep -q 'listening on' "$log"; then
            TARGET_PORT="$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$log")"
            return 0
        fi
        sleep 0.1
    done
    echo "target did not come up" >&2; cat "$log" >&2; return 1
}

# json FILE EXPR: evaluates a Python expression on the JSON document `d`.
json() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

# cpu_of OUTFILE CMD...: runs CMD with stdout to OUTFILE and prints the
# generator's CPU seconds (user + system, children included).
cpu_of() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL, check=False)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f}")
PY
}

# maxrss_of OUTFILE CMD...: runs CMD with stdout to OUTFILE and prints its
# max resident set size, KiB.
maxrss_of() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL, check=False)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
