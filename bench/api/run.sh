#!/usr/bin/env bash
# API throughput and latency of alilo-local on 1,000 projects × 10 scenarios × 10
# scripts, driven by wrk at concurrency 32. Goals (2 cores): list and get p99 < 5 ms,
# create p99 < 10 ms. Prints one line per endpoint with p50, p99, req/s and p99/goal:
# first at saturation (wrk, closed loop), then at a fixed RATE with oha (if installed).
#
#   bench/api/run.sh            # 10 s per endpoint
#   DURATION=30s bench/api/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
PORT="${PORT:-18084}"
DB="alilo_bench_$$"
BASE_DSN="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo build --release -q -p alilo-local
BIN="$CARGO_TARGET_DIR/release/alilo-local"
DATA=$(mktemp -d)
cleanup() { kill "${SERVER:-0}" 2>/dev/null || true; wait "${SERVER:-0}" 2>/dev/null || true; psql -q "$BASE_DSN/postgres" -c "DROP DATABASE IF EXISTS $DB" || true; rm -rf "$DATA"; }
trap cleanup EXIT

# --no-auth: these figures are the API alone; bench/auth/run.sh measures the guard.
RUST_LOG=warn "$BIN" --port "$PORT" --pg-dsn "$BASE_DSN/$DB" --data-dir "$DATA" --no-auth &
SERVER=$!
for _ in $(seq 1 60); do curl -s -o /dev/null -XPOST "localhost:$PORT/v1/projects" && break; sleep 0.5; done
psql -q "$BASE_DSN/$DB" -f bench/api/seed.sql
echo "seeded: $(psql -tA "$BASE_DSN/$DB" -c 'SELECT count(*) FROM projects') projects, $(psql -tA "$BASE_DSN/$DB" -c 'SELECT count(*) FROM scenarios') scenarios, $(psql -tA "$BASE_DSN/$DB" -c 'SELECT count(*) FROM simple_scripts') scripts"
SCENARIO=$(psql -tA "$BASE_DSN/$DB" -c "SELECT id FROM scenarios ORDER BY id LIMIT 1 OFFSET 5000")
SCRIPT=$(psql -tA "$BASE_DSN/$DB" -c "SELECT id FROM simple_scripts ORDER BY id LIMIT 1 OFFSET 50000")
PROJECT=$(psql -tA "$BASE_DSN/$DB" -c "SELECT id FROM projects ORDER BY id LIMIT 1 OFFSET 500")

# p50/p99 in ms from wrk --latency output.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }
measure() { # name goal_ms|- path lua [BODY]
  local name=$1 goal=$2 path=$3 lua=$4
  # An unreported warm-up first: every pooled connection prepares its statements
  # and the freshly seeded rows get their hint bits before the measured run.
  BODY="${5:-{\}}" SCENARIO="$SCENARIO" wrk -t2 -c32 -d"$WARMUP" -s "bench/api/$lua" "http://127.0.0.1:$PORT$path" >/dev/null
  local out; out=$(BODY="${5:-{\}}" SCENARIO="$SCENARIO" wrk -t2 -c32 -d"$DURATION" --latency -s "bench/api/$lua" "http://127.0.0.1:$PORT$path")
  local p50 p99 rps
  p50=$(echo "$out" | awk '$1=="50%"{print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%"{print $2}' | to_ms)
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  local errors; errors=$(echo "$out" | awk '/Non-2xx/{print $NF}')
  local verdict="no goal"
  [[ $goal != - ]] && verdict="goal p99<$goal ms  p99/goal $(awk -v a="$p99" -v b="$goal" 'BEGIN{printf "%.2f", a/b}')"
  printf '%-34s %9s req/s  p50 %6s ms  p99 %6s ms  %s  %s\n' "$name" "$rps" "$p50" "$p99" "$verdict" "${errors:+non-2xx: $errors}"
}

echo "wrk -c32 -t2 for $DURATION each against alilo-local (release) on $(nproc) cores"
measure "list projects (page 50 of 100)" 5 /v1/projects post.lua '{"limit": 10, "page_number": 50}'
measure "get project" 5 /v1/project post.lua "{\"id\": $PROJECT}"
measure "list scenarios of a project" 5 /v1/scenarios post.lua "{\"project_id\": $PROJECT, \"limit\": 10}"
measure "list scripts of a scenario" 5 /v1/scripts post.lua "{\"scenario_id\": $SCENARIO}"
measure "get simple script" 5 /v1/simple-script post.lua "{\"simple_script_id\": $SCRIPT}"
measure "search (literal, trigram index)" - /v1/search post.lua '{"search_query": "scenario 7"}'
measure "create project" 10 /v1/project/create create_project.lua
measure "create simple script" 10 /v1/simple-script/create create_script.lua

# The same connections at a fixed rate below saturation (RATE, default 2,000 req/s):
# the latency a user sees while the API is busy but not overloaded. oha sends on
# schedule and corrects for coordinated omission; its body is fixed, so created
# projects share one title.
RATE="${RATE:-2000}"
OHA="$(command -v oha || true)"
if [[ -z $OHA ]]; then
  echo "(oha not found: skipping the fixed-rate table; cargo install oha --locked)"
  exit 0
fi
fixed() { # name goal_ms path body
  local name=$1 goal=$2 path=$3 body=$4 out="$DATA/oha.json"
  "$OHA" -z "$WARMUP" -q "$RATE" -c 32 --no-tui -m POST -H 'content-type: application/json' -d "$body" \
    "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
  "$OHA" -z "$DURATION" -q "$RATE" -c 32 --latency-correction --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -d "$body" "http://127.0.0.1:$PORT$path" > "$out" 2>/dev/null
  python3 - "$out" "$name" "$goal" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); name, goal = sys.argv[2], float(sys.argv[3])
p = d["latencyPercentiles"]; codes = d["statusCodeDistribution"]
p50, p99 = p["p50"] * 1000, p["p99"] * 1000
other = {k: v for k, v in codes.items() if k != "200"}
print(f"{name:<34} {sum(codes.values()):>7} sent  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  goal p99<{goal:g} ms  p99/goal {p99 / goal:.2f}"
      + (f"  non-200: {other}" if other else ""))
PY
}
# The creates above added tens of thousands of scripts to $SCENARIO: list another.
SCENARIO=$(psql -tA "$BASE_DSN/$DB" -c "SELECT id FROM scenarios ORDER BY id LIMIT 1 OFFSET 6000")
echo
echo "oha -c32 -q $RATE (coordinated-omission corrected) for $DURATION each"
fixed "list projects (page 50 of 100)" 5 /v1/projects '{"limit": 10, "page_number": 50}'
fixed "get project" 5 /v1/project "{\"id\": $PROJECT}"
fixed "list scenarios of a project" 5 /v1/scenarios "{\"project_id\": $PROJECT, \"limit\": 10}"
fixed "list scripts of a scenario" 5 /v1/scripts "{\"scenario_id\": $SCENARIO}"
fixed "get simple script" 5 /v1/simple-script "{\"simple_script_id\": $SCRIPT}"
fixed "create project" 10 /v1/project/create '{"project": {"title": "fixed rate", "descrip": "oha"}}'
