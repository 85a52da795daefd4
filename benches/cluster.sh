#!/usr/bin/env bash
# The demo (release) on a Redis Cluster started here on loopback: three primaries with a
# replica each (`cluster-node-timeout` NODE_TIMEOUT ms, default 1000). SESSIONS users (default
# 30) log in; one more logs in and out. Then wrk on the guarded route cycling over the
# sessions: DURATION of steady load, then one-second slices during which the primary that held
# the logged-out session's entry is killed (SIGKILL) after KILL_AFTER slices. Prints requests/s
# and failures per slice (non-2xx answers, and requests wrk gave up on after 2 s), the time from the kill to the last failed request of a probe that
# cycles over the sessions every 50 ms, and whether the logged-out session was ever accepted.
# Not part of the test suite.
#
#   bash benches/cluster.sh
#   NEAR_CACHE=true bash benches/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
PORT=${PORT:-8094}
BASE=${BASE:-7110}
SESSIONS=${SESSIONS:-30}
DURATION=${DURATION:-10s}
SLICES=${SLICES:-20}
KILL_AFTER=${KILL_AFTER:-5}
NODE_TIMEOUT=${NODE_TIMEOUT:-1000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rocket_openidconnect-target}"
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
command -v redis-server >/dev/null || { apt-get update && apt-get install -y redis-server; }
cargo build --release --example demo --features redis

work=$(mktemp -d)
declare -A pid
for port in $(seq $BASE $((BASE + 5))); do
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-node-timeout "$NODE_TIMEOUT" \
    --cluster-config-file "$work/nodes-$port.conf" --dir "$work" --save "" --appendonly no >"$work/redis-$port.log" 2>&1 &
  pid[$port]=$!
done
demo=""
probe=""
trap 'kill $demo $probe ${pid[*]} 2>/dev/null; cp "$work/demo.log" /tmp/cluster-demo.log 2>/dev/null; rm -rf "$work"' EXIT
for port in $(seq $BASE $((BASE + 5))); do
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(for p in $(seq $BASE $((BASE + 5))); do printf '127.0.0.1:%s ' "$p"; done) \
  --cluster-replicas 1 --cluster-yes >"$work/create.log"
for port in $(seq $BASE $((BASE + 5))); do
  until redis-cli -p "$port" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
done
nodes=$(for p in $BASE $((BASE + 1)) $((BASE + 2)); do printf '"redis://127.0.0.1:%s/",' "$p"; done)
export ROCKET_OIDC="{redis_cluster_nodes=[${nodes%,}], session_store=\"redis\", near_cache=${NEAR_CACHE:-false}}"
ROCKET_SECRET_KEY=$(head -c 32 /dev/urandom | base64) ROCKET_PORT=$PORT ROCKET_LOG_LEVEL=critical \
  "$CARGO_TARGET_DIR/release/examples/demo" >"$work/demo.log" 2>&1 &
demo=$!
app="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$app/" && break; sleep 0.2; done

for i in $(seq "$SESSIONS"); do
  login_demo "$app" "user$i" '{"name":"A User"}' "$work/jar.$i"; echo
done > "$work/cookies"
rotate_script "$work/cookies" "$work/rotate.lua"
primaries() { for p in $(seq $BASE $((BASE + 5))); do redis-cli -p "$p" info replication | grep -q role:master && echo "$p"; done; }
entries() { for p in $(primaries); do echo "$p $(redis-cli -p "$p" --scan --pattern 'rocket_openidconnect:session:*' | sort | tr '\n' ' ')"; done; }
gone=$(login_demo "$app" leaver '{"name":"Leaving"}' "$work/jar.leaver")
before=$(entries)
curl -s -o /dev/null -b "$work/jar.leaver" "$app/logout"
after=$(entries)
victim=$(diff <(echo "$before") <(echo "$after") | awk '/^</ {print $2; exit}' || true)
[ -n "$victim" ] || { echo "the logged-out session's entry was not found"; exit 1; }
echo "sessions: $SESSIONS on $(echo "$after" | awk '{n[$1] = NF - 1} END {for (p in n) printf "%s:%d ", p, n[p]}')(port:entries); logged-out session's entry was on $victim"
code=$(curl -s -o /dev/null -w "%{http_code}" -H "Cookie: $gone" "$app/ping/user"); [ "$code" != 200 ] || { echo "logout did not end the session: $code"; exit 1; }
# Its replica has the deletion before the kill (an unreplicated write is lost at a failover).
until [ "$(redis-cli -p "$victim" info replication | tr -d "\r" | awk -F'[:=,]' '/^master_repl_offset/ {m = $2} /^slave0/ {for (i = 1; i < NF; i++) if ($i == "offset") s = $(i + 1)} END {print (m == s)}')" = 1 ]; do sleep 0.1; done

wrk -t2 -c32 -d"$DURATION" --latency -s "$work/rotate.lua" "$app" > "$work/steady.out"
echo "steady load on the cluster (near cache: ${NEAR_CACHE:-false}):"
awk '/Requests\/sec|Non-2xx|^ +50%|^ +99%/ {print}' "$work/steady.out"

# The probe: every 50 ms one session in turn and the logged-out one; a line per answer.
(
  set +e
  mapfile -t cookies < "$work/cookies"; i=0
  while true; do
    t=$(date +%s.%N)
    live=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Cookie: ${cookies[i % ${#cookies[@]}]}" "$app/ping/user")
    out=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Cookie: $gone" "$app/ping/user")
    echo "$t $live $out"; i=$((i + 1)); sleep 0.05
  done
) > "$work/probe" &
probe=$!
echo "instance RSS: $(( $(ps -o rss= -p $demo | tr -d ' ') / 1024 )) MiB"
printf '%-6s %12s %8s %9s\n' slice requests/s non-2xx timeouts
for s in $(seq "$SLICES"); do
  if [ "$s" = $((KILL_AFTER + 1)) ]; then kill -9 "${pid[$victim]}"; wait "${pid[$victim]}" 2>/dev/null || true; killed=$(date +%s.%N); echo "-- primary $victim killed"; fi
  out=$(wrk -t2 -c32 -d1s -s "$work/rotate.lua" "$app" 2>&1)
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  errors=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  timeouts=$(printf '%s\n' "$out" | awk '/Socket errors/ {print $NF}')
  kill -0 $demo 2>/dev/null || { echo "the instance has exited"; tail -5 "$work/demo.log"; exit 1; }
  printf '%-6s %12s %8s %9s\n' "$s" "$rps" "${errors:-0}" "${timeouts:-0}"
done
kill $probe; probe=""
awk -v k="$killed" '$1 > k && $2 != 200 {last = $1; n++} $1 > k {total++} END {if (n) printf "probe: %d of %d live answers after the kill failed; the last %.2f s after the kill\n", n, total, last - k; else printf "probe: no failed live answer after the kill (%d answers)\n", total}' "$work/probe"
awk '$3 == 200 {n++} {c[$3]++} END {printf "logged-out session: accepted %d times (answers:", n + 0; for (s in c) printf " %s x%d", s, c[s]; print ")"}' "$work/probe"
echo "new primaries: $(primaries | tr '\n' ' ')"
