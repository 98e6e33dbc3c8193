#!/usr/bin/env bash
# Memory of alilo-local after a burst (issue #11, item 3): a large project list
# (PROJECTS, default 141,000, the size the fault campaign used) is asked for with
# no limit by 256 connections for 20 s (wrk), and the server's resident memory is
# read before, at its peak, right after, and after IDLE seconds of rest. The same
# run is made with the "before" binary and the "after" one, each on its own fresh
# database seeded alike, and the ratios after/before are printed.
#
#   bench/api/memory.sh                                  # before = BEFORE_REV (where HEAD left main)
#   BEFORE_BIN=/path/alilo-local AFTER_BIN=/path/alilo-local bench/api/memory.sh
#   PROJECTS=20000 DURATION=10s bench/api/memory.sh
#   PROFILE=dev bench/api/memory.sh                      # debug builds (quicker to build)
#   ONLY=after bench/api/memory.sh                       # this tree only, one line
#
# The "before" binary is BEFORE_BIN, or built once from git revision BEFORE_REV in a
# target directory of its own (BEFORE_TARGET); "after" is AFTER_BIN or this tree's
# release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PROJECTS="${PROJECTS:-141000}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-256}"
IDLE="${IDLE:-10}"
PORT="${PORT:-18085}"
BODY="${BODY:-{\}}"
BASE_DSN="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BEFORE_REV="${BEFORE_REV:-$(git merge-base HEAD main)}"
BEFORE_TARGET="${BEFORE_TARGET:-/tmp/alilo-local-before-target}"
PROFILE="${PROFILE:-release}"
OUT_DIR="$PROFILE"; [[ $PROFILE == dev ]] && OUT_DIR=debug
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/alilo/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

if [[ -z "${AFTER_BIN:-}" ]]; then
  cargo build --profile "$PROFILE" -q -p alilo-local
  AFTER_BIN="$CARGO_TARGET_DIR/$OUT_DIR/alilo-local"
fi
if [[ -z "${BEFORE_BIN:-}" && ${ONLY:-} != after ]]; then
  rev=$(git -C "$ROOT" rev-parse --short "$BEFORE_REV")
  BEFORE_BIN="$BEFORE_TARGET/alilo-local-$rev-$PROFILE"
  if [[ ! -x $BEFORE_BIN ]]; then
    echo "building alilo-local of $BEFORE_REV ($rev) into $BEFORE_TARGET (once)" >&2
    src="$BEFORE_TARGET/src-$rev"; mkdir -p "$src"
    git -C "$ROOT" archive "$rev" | tar -x -C "$src"
    (cd "$src" && CARGO_TARGET_DIR="$BEFORE_TARGET" cargo build --profile "$PROFILE" -q -p alilo-local)
    cp "$BEFORE_TARGET/$OUT_DIR/alilo-local" "$BEFORE_BIN"
  fi
fi

DATA=$(mktemp -d)
SERVER=""
DB=""
stop_server() { [[ -n $SERVER ]] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }; SERVER=""; }
drop_db() { [[ -n $DB ]] && psql -q "$BASE_DSN/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true; DB=""; }
cleanup() { stop_server; drop_db; rm -rf "$DATA"; }
trap cleanup EXIT

rss_mb() { awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/{printf "%.0f", $2/1024}' "/proc/$1/status"; }

# One round: fresh database, the binary, the burst. Prints one key=value line.
round() { # name binary [VAR=value…]
  local name=$1 bin=$2; shift 2
  DB="alilo_mem_${name//[^a-z]/_}_$$"
  env RUST_LOG=error "$@" "$bin" --port "$PORT" --pg-dsn "$BASE_DSN/$DB" --data-dir "$DATA/$name" --no-agent >"$DATA/$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null -XPOST "localhost:$PORT/v1/projects" -d '{"limit":1}' && break; sleep 0.5; done
  psql -q "$BASE_DSN/$DB" -c "INSERT INTO projects (title, descrip)
      SELECT format('project %s', lpad(p::text, 6, '0')), 'a project of the memory bench' FROM generate_series(1, $PROJECTS) p;
      ANALYZE;" >/dev/null
  # A few requests first, so the baseline includes warm pools and caches.
  for _ in 1 2 3; do curl -s -o /dev/null -XPOST "localhost:$PORT/v1/projects" -d "$BODY"; done
  local base; base=$(rss_mb "$SERVER")
  local reply; reply=$(curl -s -XPOST "localhost:$PORT/v1/projects" -d "$BODY" | wc -c)
  local out; out=$(BODY="$BODY" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s --latency -s bench/api/status.lua \
    "http://127.0.0.1:$PORT/v1/projects" 2>&1)
  local after; after=$(rss_mb "$SERVER")
  local peak; peak=$(hwm_mb "$SERVER")
  sleep "$IDLE"
  local rested; rested=$(rss_mb "$SERVER")
  local rps p99 timeouts statuses
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  timeouts=$(echo "$out" | awk -F'timeout ' '/Socket errors/{print $2+0}'); timeouts=${timeouts:-0}
  statuses=$(echo "$out" | awk '/^statuses:/{$1=""; gsub(/^ /,""); gsub(/ /,","); print}')
  echo "name=$name base=$base peak=$peak after=$after rested=$rested reply=$reply rps=$rps p99=$p99 timeouts=$timeouts statuses=${statuses:-none}"
  stop_server
  drop_db
}

echo "alilo-local ($PROFILE) memory: $PROJECTS projects, POST /v1/projects $BODY, wrk -c$CONNECTIONS for $DURATION, rest ${IDLE}s, $(nproc) cores"
echo "before: ${BEFORE_BIN:-(skipped)}"
echo "after:  $AFTER_BIN"
if [[ ${ONLY:-} == after ]]; then round after "$AFTER_BIN"; exit 0; fi
B=$(round before "$BEFORE_BIN")
A=$(round after "$AFTER_BIN")
# mimalloc keeps freed pages of idle threads until they allocate again; purging at
# once returns them to the system (an environment variable: read before main).
P=$(round after-purge0 "$AFTER_BIN" MIMALLOC_PURGE_DELAY=0)
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 {print substr($0, length(k) + 2)}'; }
printf '\n%-13s %9s %9s %9s %9s %11s %10s %9s %8s  %s\n' "" "base MB" "peak MB" "after MB" "rested MB" "reply bytes" "req/s" "p99" "timeouts" "answers by status"
for line in "$B" "$A" "$P"; do
  printf '%-13s %9s %9s %9s %9s %11s %10s %9s %8s  %s\n' "$(field "$line" name)" \
    "$(field "$line" base)" "$(field "$line" peak)" "$(field "$line" after)" "$(field "$line" rested)" \
    "$(field "$line" reply)" "$(field "$line" rps)" "$(field "$line" p99)" "$(field "$line" timeouts)" "$(field "$line" statuses)"
done
ratio() { awk -v a="$(field "$A" "$1")" -v b="$(field "$B" "$1")" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "after/before: peak $(ratio peak)  after-burst $(ratio after)  rested $(ratio rested)  reply $(ratio reply)  req/s $(ratio rps)"
echo "after-purge0/before: peak $(awk -v a="$(field "$P" peak)" -v b="$(field "$B" peak)" 'BEGIN{printf "%.2f", a/b}')  rested $(awk -v a="$(field "$P" rested)" -v b="$(field "$B" rested)" 'BEGIN{printf "%.2f", a/b}')"
echo "rested/base: before $(awk -v r="$(field "$B" rested)" -v b="$(field "$B" base)" 'BEGIN{printf "%.2f", r/b}')  after $(awk -v r="$(field "$A" rested)" -v b="$(field "$A" base)" 'BEGIN{printf "%.2f", r/b}')  after-purge0 $(awk -v r="$(field "$P" rested)" -v b="$(field "$P" base)" 'BEGIN{printf "%.2f", r/b}')"
