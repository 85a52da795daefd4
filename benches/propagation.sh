#!/usr/bin/env bash
# Logout propagation between two instances with near caches (`near_cache = true`) sharing a
# Redis: TRIALS (default 1000) logouts on A, each timed until B refuses the session it had
# cached. Prints the median, p99 and max. Runs the ignored measurement of tests/near_cache.rs
# (release build). Not part of the test suite.
#
#   bash benches/propagation.sh
#   TRIALS=200 bash benches/propagation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TRIALS=${TRIALS:-1000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rocket_openidconnect-target}"
command -v redis-server >/dev/null || { apt-get update && apt-get install -y redis-server; }
cargo test --release --all-features --test near_cache -- --ignored --nocapture measure_logout_propagation 2>&1 \
  | grep -E "logout propagation|test result|panicked"
