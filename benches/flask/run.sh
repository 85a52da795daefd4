#!/usr/bin/env bash
# Side-by-side: Flask-pyoidc 3.14.3 under gunicorn (2 sync workers), its protected route with a
# session cookie, driven by wrk with the same settings as benches/load.sh. Installs Flask-pyoidc
# in a venv under /tmp. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-8091}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
venv=${VENV:-/tmp/rocket_openidconnect-flask-venv}
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
[ -x "$venv/bin/gunicorn" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "Flask-pyoidc==3.14.3" gunicorn
}
"$venv/bin/gunicorn" --workers 2 --worker-class sync --bind "127.0.0.1:$PORT" --log-level warning app:app &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/ping" && break; sleep 0.2; done
jar=$(mktemp)
curl -s -c "$jar" "http://127.0.0.1:$PORT/bench-login" >/dev/null
cookie=$(awk '$6 == "session" {printf "session=%s", $7}' "$jar")
[ "$(curl -s -H "Cookie: $cookie" "http://127.0.0.1:$PORT/ping/user")" = "pong" ] || { echo "the protected route refused the session"; exit 1; }
echo "Flask session cookie: ${#cookie} bytes"
run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "http://127.0.0.1:$PORT$1"; }
result=$(run /ping/user)
printf '%s\n' "$result" | awk '/Requests\/sec/ {print "Flask-pyoidc /ping/user requests/s: " $2} $1 == "50%" {print "p50: " $2} $1 == "99%" {print "p99: " $2}'
rm -f "$jar"
