#!/usr/bin/env bash
# Builds the release SDK (pkg/) and server, then serves the demo page with
# development auth and the in-memory backplane on 127.0.0.1:8080 (override with
# WSGUARD_ADDR). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
scripts/build-sdk.sh
cargo build --quiet --release -p wsguard-server
addr=${WSGUARD_ADDR:-127.0.0.1:8080}
echo
echo "  wsguard demo: http://$addr/   (WebSocket endpoint ws://$addr/ws; any user name is accepted as a dev token)"
echo
exec target/release/wsguard-server --addr "$addr" --insecure-dev-auth --heartbeat-ms 2000 --static www --pkg pkg "$@"
