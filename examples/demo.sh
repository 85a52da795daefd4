#!/usr/bin/env bash
# Runs the example app against a real OpenID Provider (the npm package oidc-provider) on
# loopback: the provider on http://127.0.0.1:9090, the app on http://127.0.0.1:8000.
# Log in with any user name and password.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  apt-get update && apt-get install -y nodejs npm
fi
[ -d tests/op/node_modules/oidc-provider ] || npm ci --prefix tests/op --no-audit --no-fund

OP_KEEP_RUNNING=1 OP_PORT=9090 CLIENT_ID=demo-app CLIENT_SECRET=demo-secret-not-for-production \
  REDIRECT_URIS=http://127.0.0.1:8000/redirect_uri \
  POST_LOGOUT_REDIRECT_URIS=http://127.0.0.1:8000/logout,http://127.0.0.1:8000/goodbye \
  node tests/op/server.js &
op=$!
trap 'kill $op 2>/dev/null' EXIT

echo "Open http://127.0.0.1:8000/ (protected), /public, /logout or /goodbye"
cargo run --example app
