#!/usr/bin/env bash
# Autobahn fuzzing cases 1–11 (12.* and 13.* are permessage-deflate, which v1 does not
# negotiate) against an echo endpoint on wsguard-server's WebSocket stack.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p wsguard-server --example autobahn_echo
out=$(mktemp -d)
trap 'kill "${echo_pid:-}" 2>/dev/null || true; rm -rf "$out"' EXIT
target/debug/examples/autobahn_echo 127.0.0.1:0 > "$out/addr" &
echo_pid=$!
for _ in $(seq 1 100); do [ -s "$out/addr" ] && break; sleep 0.05; done
addr=$(head -1 "$out/addr")
echo "conformance: Autobahn cases 1-11 against $addr"
(cd "$out" && "$OLDPWD/.tools/venv/bin/kosoku" -x '12.*' -x '13.*' "$addr" > kosoku.log 2>&1) || {
  grep -v 'behavior=OK, behaviorClose=OK' "$out/kosoku.log" | head -40
  echo "conformance: FAILED"
  exit 1
}
tail -1 "$out/kosoku.log"
