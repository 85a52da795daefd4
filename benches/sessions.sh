#!/usr/bin/env bash
# Memory under many sessions: the demo (release) with SESSIONS logged-in users (default 1000,
# each logged in once through the development provider's page), then a 60 s wrk load that
# rotates over all their session cookies. Prints the demo's RSS after the logins and every
# 10 s of load. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
PORT=${PORT:-8092}
SESSIONS=${SESSIONS:-1000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rocket_openidconnect-target}"
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
cargo build --release --example demo

ROCKET_SECRET_KEY=$(head -c 32 /dev/urandom | base64) ROCKET_PORT=$PORT ROCKET_LOG_LEVEL=critical \
  "$CARGO_TARGET_DIR/release/examples/demo" >/tmp/sessions-demo.log 2>&1 &
demo=$!
work=$(mktemp -d)
trap 'kill $demo 2>/dev/null; rm -rf "$work"' EXIT
app="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$app/" && break; sleep 0.2; done
rss() { echo "$(ps -o rss= -p $demo | tr -d ' ') KiB"; }
echo "RSS at start: $(rss)"

for i in $(seq "$SESSIONS"); do
  login_demo "$app" "user$i" '{"name":"A User","email":"user@example.com"}' "$work/jar.$i"; echo
done > "$work/cookies"
echo "sessions: $(grep -c oidc_session "$work/cookies"); RSS after the logins: $(rss)"

rotate_script "$work/cookies" "$work/rotate.lua"
wrk -t2 -c32 -d60s -s "$work/rotate.lua" "$app" > "$work/wrk.out" &
load=$!
for t in 10 20 30 40 50 60; do sleep 10; echo "RSS after ${t} s of load: $(rss)"; done
wait $load
awk '/Requests\/sec|Non-2xx/ {print}' "$work/wrk.out"
