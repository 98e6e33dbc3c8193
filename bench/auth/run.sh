#!/usr/bin/env bash
# The guard's cost (issue #10): the same alilo-local release binary twice on one
# database, one with --no-auth and one with sign-in, loaded at the same fixed rate
# by alilo-agent (open model, latency corrected for coordinated omission) with a
# viewer's API token (bearer) and a viewer's session cookie on every request,
# alternating no-auth / bearer / cookie for ROUNDS rounds. Prints p50/p99 of each
# and the p99 difference per endpoint. Goal: < 0.2 ms of p99. Figures:
# bench/auth/RESULTS.md.
#
#   bench/auth/run.sh                      # 1,000 req/s, 10 s, 3 rounds
#   RATE=2000 DURATION=20s bench/auth/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-1000}"; DURATION="${DURATION:-10s}"; ROUNDS="${ROUNDS:-3}"
BASE_DSN="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
DB="alilo_bench_auth_$$"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
# SKIP_BUILD=1: use the release binaries already in $CARGO_TARGET_DIR.
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -q -p alilo-local -p alilo-agent
BIN="$CARGO_TARGET_DIR/release/alilo-local"; AGENT="$CARGO_TARGET_DIR/release/alilo-agent"
WORK=$(mktemp -d)
cleanup() {
  kill "${OPEN:-0}" "${GUARDED:-0}" 2>/dev/null || true; wait 2>/dev/null || true
  psql -q "$BASE_DSN/postgres" -c "DROP DATABASE IF EXISTS $DB" || true; rm -rf "$WORK"
}
trap cleanup EXIT

# The guarded server first: it creates the database, migrates, and makes the admin
# (its one-time password goes to its stderr, which we drop).
RUST_LOG=warn "$BIN" --port 18184 --pg-dsn "$BASE_DSN/$DB" --data-dir "$WORK/s3a" --no-agent 2>/dev/null &
GUARDED=$!
for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST localhost:18184/v1/projects && break; sleep 0.5; done
RUST_LOG=warn "$BIN" --port 18185 --pg-dsn "$BASE_DSN/$DB" --data-dir "$WORK/s3b" --no-agent --no-auth 2>/dev/null &
OPEN=$!
for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST localhost:18185/v1/projects && break; sleep 0.5; done

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

load() { # port path body [auth header...]
  local port=$1 path=$2 body=$3; shift 3
  "$AGENT" run --url "http://127.0.0.1:$port$path" -X POST -H 'content-type: application/json' "$@" -d "$body" \
    --rps "$RATE" --duration "$DURATION" --max-vus 64 --quiet --json 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; l=s["latency"]; print(l["p50"], l["p99"], s["ok"], s["sent"])'
}

echo "alilo-agent at $RATE req/s for $DURATION, $ROUNDS rounds alternating; $(nproc) cores"
for endpoint in "get project|/v1/project|{\"id\": $PROJECT}" "list projects|/v1/projects|{\"limit\": 10, \"page_number\": 50}"; do
  IFS='|' read -r name path body <<< "$endpoint"
  : > "$WORK/r"
  load 18185 "$path" "$body" >/dev/null  # warm-up
  load 18184 "$path" "$body" -H "Authorization: Bearer $TOKEN" >/dev/null
  for round in $(seq "$ROUNDS"); do
    echo "no-auth $(load 18185 "$path" "$body")" >> "$WORK/r"
    echo "bearer $(load 18184 "$path" "$body" -H "Authorization: Bearer $TOKEN")" >> "$WORK/r"
    echo "cookie $(load 18184 "$path" "$body" -H "Cookie: alilo_session=$SESSION")" >> "$WORK/r"
  done
  python3 - "$WORK/r" "$name" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
def pick(kind, i): return [float(r[i]) for r in rows if r[0] == kind]
for r in rows:
    print(f"  {sys.argv[2]:<14} {r[0]:<8} p50 {float(r[1]):6.2f} ms  p99 {float(r[2]):6.2f} ms  ok {r[3]}/{r[4]}")
n99, n50 = statistics.median(pick("no-auth", 2)), statistics.median(pick("no-auth", 1))
for kind in ("bearer", "cookie"):
    a99, a50 = statistics.median(pick(kind, 2)), statistics.median(pick(kind, 1))
    print(f"{sys.argv[2]:<16} {kind:<6} median of rounds: p50 {n50:.2f} -> {a50:.2f} ms ({a50 - n50:+.2f}), "
          f"p99 {n99:.2f} -> {a99:.2f} ms ({a99 - n99:+.2f} ms; goal < +0.20)")
PY
done
