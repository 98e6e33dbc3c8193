#!/usr/bin/env bash
# The guard's cost (issue #10): the same alilo-local release binary twice on one
# database, one with --no-auth and one with sign-in, loaded at the same fixed rate
# by alilo-agent (open model, latency corrected for coordinated omission) with a
# viewer's API token (bearer) and a viewer's session cookie. Goal: sign-in adds
# < 0.2 ms to p99. Figures: bench/auth/RESULTS.md.
#
# Two measurements in one run:
# - End to end: ROUNDS short rounds per endpoint, each loading no-auth, bearer and
#   cookie once (the order rotates each round), the servers pinned to one core and
#   the load generator to another (taskset), a rate well under saturation, a
#   warm-up first. Per mode: the median of the per-round p99 and its spread; per
#   round the paired difference (sign-in p99 − no-auth p99 of the same round),
#   with a distribution-free ~95 % interval for its median (sign test).
# - In the server: both servers run with ALILO_BENCH_GUARD_TIMES=1 and print, on
#   SIGUSR1 after each round, the time the guard itself spent per request
#   (shared/src/auth/timing.rs). `--no-auth` runs the same guard, so the
#   difference is authentication + authorization alone, and its per-request
#   maximum bounds what sign-in can add to any quantile (p99 included) short of
#   queueing at saturation.
#
#   bench/auth/run.sh                            # 1,000 req/s, 4 s, 12 rounds
#   SKIP_BUILD=1 RATE=500 ROUNDS=16 bench/auth/run.sh
#   MODES="no-auth bearer" ROUNDS=24 DURATION=3s bench/auth/run.sh   # more pairs, one credential
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-1000}"; DURATION="${DURATION:-4s}"; ROUNDS="${ROUNDS:-12}"; WARMUP="${WARMUP:-3s}"
# MODES: which of no-auth (always first), bearer, cookie, no-auth-b (a second --no-auth
# server: an A/A control) each round loads.
read -r -a MODES <<< "${MODES:-no-auth bearer cookie}"
BASE_DSN="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
DB="alilo_bench_auth_$$"
# Cores: the servers on SERVER_CPU, the load generator on LOAD_CPU (Postgres floats).
SERVER_CPU="${SERVER_CPU:-1}"; LOAD_CPU="${LOAD_CPU:-0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
# SKIP_BUILD=1: use the release binaries already in $CARGO_TARGET_DIR (no cargo).
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -q -p alilo-local -p alilo-agent
# BIN_DIR: where the release binaries are (default: the cargo target dir's).
BIN_DIR="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
BIN="$BIN_DIR/alilo-local"; AGENT="$BIN_DIR/alilo-agent"
# `taskset -c N` in front of a command (it execs it: `$!` stays the server's pid).
SERVER_PIN=(); LOAD_PIN=()
if command -v taskset >/dev/null && (( $(nproc) > 1 )); then
  SERVER_PIN=(taskset -c "$SERVER_CPU"); LOAD_PIN=(taskset -c "$LOAD_CPU")
fi
WORK=$(mktemp -d)
cleanup() {
  kill "${OPEN:-0}" "${GUARDED:-0}" "${OPEN_B:-0}" 2>/dev/null || true; wait 2>/dev/null || true
  psql -q "$BASE_DSN/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true; rm -rf "$WORK"
}
trap cleanup EXIT

# The guarded server first: it creates the database, migrates, and makes the admin
# (its one-time password goes to its stderr, which we drop). Their stdout carries
# the guard-time lines.
ALILO_BENCH_GUARD_TIMES=1 RUST_LOG=warn "${SERVER_PIN[@]}" "$BIN" --port 18184 --pg-dsn "$BASE_DSN/$DB" \
  --data-dir "$WORK/s3a" --no-agent >"$WORK/guarded.out" 2>/dev/null &
GUARDED=$!
for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST localhost:18184/v1/projects && break; sleep 0.5; done
ALILO_BENCH_GUARD_TIMES=1 RUST_LOG=warn "${SERVER_PIN[@]}" "$BIN" --port 18185 --pg-dsn "$BASE_DSN/$DB" \
  --data-dir "$WORK/s3b" --no-agent --no-auth >"$WORK/open.out" 2>/dev/null &
OPEN=$!
for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST localhost:18185/v1/projects && break; sleep 0.5; done
# `no-auth-b` (an A/A control): a second --no-auth server, loaded like the first; its
# difference from no-auth is what two servers differ by with no sign-in at all.
if [[ " ${MODES[*]} " == *" no-auth-b "* ]]; then
  ALILO_BENCH_GUARD_TIMES=1 RUST_LOG=warn "${SERVER_PIN[@]}" "$BIN" --port 18186 --pg-dsn "$BASE_DSN/$DB" \
    --data-dir "$WORK/s3c" --no-agent --no-auth >"$WORK/open_b.out" 2>/dev/null &
  OPEN_B=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST localhost:18186/v1/projects && break; sleep 0.5; done
fi

# 1,000 projects to read, and a viewer token (stored as its SHA-256, as the API does).
psql -q "$BASE_DSN/$DB" -c "INSERT INTO projects (title) SELECT 'project ' || g FROM generate_series(1, 1000) g"
TOKEN="alilo_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HASH=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
psql -q "$BASE_DSN/$DB" -c "INSERT INTO api_tokens (name, token_hash, role, expires_at)
  VALUES ('bench', decode('$HASH', 'hex'), 'viewer', now() + interval '1 day')"
# A viewer's session (the cookie holds the id; the table its SHA-256).
psql -q "$BASE_DSN/$DB" -c "INSERT INTO users (name, password_hash, role) VALUES ('bench-viewer', 'unusable', 'viewer')"
SESSION=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SESSION_HASH=$(printf '%s' "$SESSION" | sha256sum | cut -d' ' -f1)
psql -q "$BASE_DSN/$DB" -c "INSERT INTO sessions (id_hash, user_id, expires_at)
  SELECT decode('$SESSION_HASH', 'hex'), id, now() + interval '1 day' FROM users WHERE name = 'bench-viewer'"
PROJECT=$(psql -tA "$BASE_DSN/$DB" -c "SELECT id FROM projects ORDER BY id LIMIT 1 OFFSET 500")
psql -q "$BASE_DSN/$DB" -c "VACUUM ANALYZE"

load() { # duration port path body [header...] -> p50 p99 p999 max ok sent lag_p99
  local duration=$1 port=$2 path=$3 body=$4; shift 4
  "${LOAD_PIN[@]}" "$AGENT" run --url "http://127.0.0.1:$port$path" -X POST -H 'content-type: application/json' "$@" \
    -d "$body" --rps "$RATE" --duration "$duration" --max-vus 64 --quiet --json 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; l=s["latency"]
print(l["p50"], l["p99"], l["p999"], l["max"], s["ok"], s["sent"], s["schedule_lag"]["p99"])'
}
# The guard-time line a server printed for the load just sent to it.
guard_time() { # pid file
  local before; before=$(wc -l < "$2"); kill -USR1 "$1"
  for _ in $(seq 1 50); do (( $(wc -l < "$2") > before )) && break; sleep 0.02; done
  tail -1 "$2"
}
declare -A PORT=([no-auth]=18185 [bearer]=18184 [cookie]=18184 [no-auth-b]=18186)
declare -A PID=([no-auth]=$OPEN [bearer]=$GUARDED [cookie]=$GUARDED [no-auth-b]=${OPEN_B:-0})
declare -A OUT=([no-auth]="$WORK/open.out" [bearer]="$WORK/guarded.out" [cookie]="$WORK/guarded.out"
  [no-auth-b]="$WORK/open_b.out")
header() { case $1 in bearer) echo "Authorization: Bearer $TOKEN";; cookie) echo "Cookie: alilo_session=$SESSION";; *) echo "X-Bench: no-auth";; esac; }

echo "alilo-agent at $RATE req/s, $ROUNDS rounds x $DURATION per mode and endpoint (order rotating)," \
  "servers on CPU $SERVER_CPU, load generator on CPU $LOAD_CPU; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for endpoint in "get project|/v1/project|{\"id\": $PROJECT}" "list projects|/v1/projects|{\"limit\": 10, \"page_number\": 50}"; do
  IFS='|' read -r name path body <<< "$endpoint"
  : > "$WORK/r"
  for mode in "${MODES[@]}"; do  # warm-up: pooled connections, prepared statements, caches
    load "$WARMUP" "${PORT[$mode]}" "$path" "$body" -H "$(header "$mode")" >/dev/null
    guard_time "${PID[$mode]}" "${OUT[$mode]}" >/dev/null
  done
  for round in $(seq 0 $((ROUNDS - 1))); do
    for i in "${!MODES[@]}"; do
      mode=${MODES[$(( (round + i) % ${#MODES[@]} ))]}
      result=$(load "$DURATION" "${PORT[$mode]}" "$path" "$body" -H "$(header "$mode")")
      echo "$round $mode $result $(guard_time "${PID[$mode]}" "${OUT[$mode]}")" >> "$WORK/r"
    done
  done
  python3 - "$WORK/r" "$name" <<'PY'
import math, statistics, sys
name = sys.argv[2]
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    g = dict(kv.split("=") for kv in f[10:] if "=" in kv)
    rows.append({"round": int(f[0]), "mode": f[1], "p50": float(f[2]), "p99": float(f[3]), "p999": float(f[4]),
                 "max": float(f[5]), "ok": int(f[6]), "sent": int(f[7]), "lag99": float(f[8]),
                 "g50": float(g.get("p50_us", "nan")), "g99": float(g.get("p99_us", "nan")),
                 "g999": float(g.get("p999_us", "nan")), "gmax": float(g.get("max_us", "nan")), "gn": int(g.get("n", "0"))})
modes = [m for m in ["no-auth", "bearer", "cookie", "no-auth-b"] if any(r["mode"] == m for r in rows)]
by = {m: sorted((r for r in rows if r["mode"] == m), key=lambda r: r["round"]) for m in modes}
def q(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, max(0, round((len(xs) - 1) * p)))]
def ci(d):
    # Sign-test interval for the median: [d_(k), d_(n-k+1)] with 2*P(Bin(n,.5) <= k-1) <= 0.05.
    d, n = sorted(d), len(d)
    k, cover = 0, 1.0
    for j in range(1, n // 2 + 1):
        tail = sum(math.comb(n, i) for i in range(j)) / 2 ** n
        if 2 * tail <= 0.05: k, cover = j, 1 - 2 * tail
    return (d[k - 1], d[n - k], cover) if k else None
print(f"\n== {name}: per round (ms; guard time in us) ==")
for r in sorted(rows, key=lambda r: (r["round"], modes.index(r["mode"]))):
    print(f"  round {r['round']:>2} {r['mode']:<8} p50 {r['p50']:6.3f}  p99 {r['p99']:7.3f}  p99.9 {r['p999']:7.3f}  max {r['max']:7.2f}"
          f"  ok {r['ok']}/{r['sent']}  lag p99 {r['lag99']:.3f} | guard n {r['gn']} p50 {r['g50']:6.2f} p99 {r['g99']:7.2f}"
          f" p99.9 {r['g999']:8.1f} max {r['gmax']:8.1f}")
print(f"== {name}: summary over {len(by['no-auth'])} rounds ==")
for m in modes:
    p99 = [r["p99"] for r in by[m]]; p50 = [r["p50"] for r in by[m]]
    g99 = [r["g99"] for r in by[m]]; g50 = [r["g50"] for r in by[m]]
    print(f"  {m:<8} p50 median {statistics.median(p50):.3f} ms | p99 median {statistics.median(p99):.3f} ms"
          f" (min {min(p99):.3f}, quartiles {q(p99, .25):.3f}-{q(p99, .75):.3f}, max {max(p99):.3f})"
          f" | guard p50 {statistics.median(g50):.2f} us, p99 {statistics.median(g99):.2f} us (max of rounds {max(g99):.2f}),"
          f" p99.9 {statistics.median(r['g999'] for r in by[m]):.1f} us,"
          f" slowest guard {max(r['gmax'] for r in by[m]):.1f} us")
n99 = statistics.median(r["p99"] for r in by["no-auth"])
ng99 = statistics.median(r["g99"] for r in by["no-auth"])
for m in [m for m in modes if m != "no-auth"]:
    d = [a["p99"] - b["p99"] for a, b in zip(by[m], by["no-auth"])]
    med = statistics.median(d)
    interval = ci(d)
    if interval is None:  # fewer than 6 rounds: no 95 % interval
        lo, hi, cover, verdict = min(d), max(d), 1.0, "UNDECIDED (too few rounds)"
    else:
        lo, hi, cover = interval
        verdict = "MET" if hi < 0.2 else ("NOT MET" if lo > 0.2 else "UNDECIDED")
    dg = statistics.median(r["g99"] for r in by[m]) - ng99
    if m == "no-auth-b":
        print("  (no-auth-b is the A/A control: both servers --no-auth; its difference is between-server noise)")
    print(f"  {m:<8} - no-auth: p99 of medians {statistics.median(r['p99'] for r in by[m]) - n99:+.3f} ms;"
          f" paired per-round p99 difference median {med:+.3f} ms, {cover:.0%} interval [{lo:+.3f}, {hi:+.3f}] ms"
          f" -> goal < +0.200 ms: {verdict};"
          f" guard p99 {dg:+.2f} us (in the server)")
PY
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
