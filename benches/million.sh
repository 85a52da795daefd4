#!/usr/bin/env bash
# A million server-side sessions in Redis: created through the library's session store
# (examples/million_sessions.rs, not through logins), then a guarded route served with them
# while wrk cycles over HOT (default 100,000) of them. Prints the seeding rate, Redis memory
# (in all and per session, and MEMORY USAGE of one session entry and one user's index), the
# time to list one user's sessions (with 1,000 and with all sessions stored), the instance's
# RSS, and requests/s. Not part of the test suite.
#
#   bash benches/million.sh                          # 1,000,000 sessions, 30 s of load
#   SESSIONS=100000 HOT=10000 DURATION=10s bash benches/million.sh
#   NEAR_CACHE=true bash benches/million.sh          # with the near cache
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
PORT=${PORT:-8093}
REDIS_PORT=${REDIS_PORT:-6391}
DURATION=${DURATION:-30s}
export SESSIONS=${SESSIONS:-1000000} HOT=${HOT:-100000} NEAR_CACHE=${NEAR_CACHE:-false}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rocket_openidconnect-target}"
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
command -v redis-server >/dev/null || { apt-get update && apt-get install -y redis-server; }
cargo build --release --example million_sessions --features testing,redis

work=$(mktemp -d)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis=$!
app=""
trap 'kill $app $redis 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
before=$(used)

REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" COOKIES="$work/cookies" PORT=$PORT \
  "$CARGO_TARGET_DIR/release/examples/million_sessions" >"$work/out" 2>"$work/err" &
app=$!
until grep -q READY "$work/out"; do
  kill -0 $app 2>/dev/null || { cat "$work/err"; exit 1; }
  sleep 1
done
grep -v "READY\|Warning\|launched" "$work/out"
after=$(used)
keys=$(redis-cli -p "$REDIS_PORT" dbsize)
echo "Redis: $keys keys, used_memory $((before / 1024 / 1024)) MiB before, $((after / 1024 / 1024)) MiB after: $(( (after - before) / SESSIONS )) bytes per session (entry and its share of the index)"
entry=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'rocket_openidconnect:session:*' | head -1 || true)
index=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'rocket_openidconnect:sessions-of-user:*' | head -1 || true)
echo "MEMORY USAGE: one session entry $(redis-cli -p "$REDIS_PORT" memory usage "$entry") bytes ($(redis-cli -p "$REDIS_PORT" strlen "$entry") bytes sealed), one user's index of 10 $(redis-cli -p "$REDIS_PORT" memory usage "$index") bytes"
rss() { echo "$(( $(ps -o rss= -p $app | tr -d ' ') / 1024 )) MiB"; }
echo "instance RSS after seeding: $(rss)"

rotate_script "$work/cookies" "$work/rotate.lua"
curl -s -o /dev/null -w 'first hot session: %{http_code}\n' -H "Cookie: $(head -1 "$work/cookies")" "http://127.0.0.1:$PORT/ping/user"
wrk -t2 -c32 -d"$DURATION" --latency -s "$work/rotate.lua" "http://127.0.0.1:$PORT" > "$work/wrk.out"
awk '/Requests\/sec|Non-2xx|Socket errors|^ +50%|^ +99%/ {print}' "$work/wrk.out"
echo "instance RSS after the load over $HOT sessions (near cache: $NEAR_CACHE): $(rss)"
