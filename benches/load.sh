#!/usr/bin/env bash
# Load run: the demo (release build, embedded development provider) on 127.0.0.1:$PORT, one
# login, then wrk on the same tiny route with and without the guard. Prints requests/s,
# latencies and the ratio. Not part of the test suite.
#
#   bash benches/load.sh            # defaults: 10 s per route, 2 threads, 32 connections
#   DURATION=30s CONNECTIONS=64 bash benches/load.sh
#   STORE=redis bash benches/load.sh  # records in a local redis-server (feature `redis`)
#   STORE=redis SESSION_STORE=redis bash benches/load.sh  # and the sessions too
#   STORE=redis SESSION_STORE=redis NEAR_CACHE=true bash benches/load.sh  # with the near cache
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
PORT=${PORT:-8090}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rocket_openidconnect-target}"

command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
STORE=${STORE:-memory}
features=()
redis=""
if [ "$STORE" = redis ]; then
  command -v redis-server >/dev/null || { apt-get update && apt-get install -y redis-server; }
  REDIS_PORT=${REDIS_PORT:-6390}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/tmp/load-redis.log 2>&1 &
  redis=$!
  # SESSION_STORE=redis keeps the sessions themselves in Redis too (the cookie holds an id).
  export ROCKET_OIDC="{redis_url=\"redis://127.0.0.1:$REDIS_PORT/\", session_store=\"${SESSION_STORE:-cookie}\", near_cache=${NEAR_CACHE:-false}}"
  features=(--features redis)
fi
cargo build --release --example demo "${features[@]}"

ROCKET_SECRET_KEY=$(head -c 32 /dev/urandom | base64) ROCKET_PORT=$PORT ROCKET_LOG_LEVEL=critical "$CARGO_TARGET_DIR/release/examples/demo" >/tmp/load-demo.log 2>&1 &
demo=$!
trap 'kill $demo $redis 2>/dev/null' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.2; done

# One login through the development provider's page, with a cookie jar.
jar=$(mktemp)
app="http://127.0.0.1:$PORT"
groups=$(printf '"group-%02d-of-the-organisation",' $(seq 20)); groups="[${groups%,}]"
cookie=$(login_demo "$app" ada "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"groups\":$groups}" "$jar")
[ -n "$cookie" ] || { echo "login failed"; exit 1; }
echo "session cookie header: ${#cookie} bytes"
[ "$(curl -s -H "Cookie: $cookie" "$app/ping/user")" = "pong" ] || { echo "guarded route refused"; exit 1; }

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$app$1"; }
run /ping >/dev/null # warm-up
open=$(run /ping); guarded=$(run /ping/user)
rps() { printf '%s\n' "$1" | awk '/Requests\/sec/ {print $2}'; }
lat() { printf '%s\n' "$1" | awk -v q="$2" '$1 == q {print $2}'; }
printf '%-22s %12s %10s %10s\n' route requests/s p50 p99
printf '%-22s %12s %10s %10s\n' "/ping (no guard)" "$(rps "$open")" "$(lat "$open" 50%)" "$(lat "$open" 99%)"
printf '%-22s %12s %10s %10s\n' "/ping/user (OidcUser)" "$(rps "$guarded")" "$(lat "$guarded" 50%)" "$(lat "$guarded" 99%)"
awk -v g="$(rps "$guarded")" -v o="$(rps "$open")" 'BEGIN {printf "ratio guarded/open: %.2f\n", g / o}'
echo "store: $STORE, sessions: ${SESSION_STORE:-cookie}, near cache: ${NEAR_CACHE:-false}; demo RSS: $(ps -o rss= -p $demo) KiB"
rm -f "$jar"
