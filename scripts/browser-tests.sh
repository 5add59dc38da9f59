#!/usr/bin/env bash
# Browser tests: the SDK (wasm-bindgen-test, run by wasm-pack) in headless Chromium
# and in headless Firefox, against a real wsguard-server (run by a supervisor that
# lets a test restart it), a silent server that accepts WebSockets but never
# welcomes, and a misbehaving server (a close frame on a connection it keeps open,
# welcomes the SDK cannot read) that hands reconnects over to the real server.
# Chromium reads its flags from webdriver.json; Firefox runs as is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
cargo build --quiet -p wsguard-server --bin wsguard-server --example autobahn_echo

free_port() { .tools/venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); control=$(free_port)
tmp=$(mktemp -d)
cleanup() {
  kill "${sup_pid:-}" "${silent_pid:-}" "${misbehaving_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

.tools/venv/bin/python tests/browser/supervisor.py target/debug/wsguard-server "$port" "$control" \
  --insecure-dev-auth --max-connections-per-user 5 --max-frames-per-sec 0 > "$tmp/supervisor" &
sup_pid=$!
target/debug/examples/autobahn_echo 127.0.0.1:0 > "$tmp/silent" &
silent_pid=$!
.tools/venv/bin/python tests/browser/misbehaving_server.py "127.0.0.1:$port" > "$tmp/misbehaving" &
misbehaving_pid=$!
for _ in $(seq 1 200); do
  grep -q ready "$tmp/supervisor" 2>/dev/null && [ -s "$tmp/silent" ] && [ -s "$tmp/misbehaving" ] && break
  sleep 0.05
done
grep -q ready "$tmp/supervisor" || { echo "supervisor did not start"; exit 1; }
[ -s "$tmp/misbehaving" ] || { echo "misbehaving server did not start"; exit 1; }

export WSGUARD_TEST_URL="ws://127.0.0.1:$port/ws"
export WSGUARD_TEST_SILENT_URL="ws://$(head -1 "$tmp/silent")/"
export WSGUARD_TEST_CONTROL_URL="ws://127.0.0.1:$control/"
export WSGUARD_TEST_MISBEHAVING_URL="ws://$(head -1 "$tmp/misbehaving")"
# Both engines by default; WSGUARD_BROWSERS="--firefox" (or "--chrome") runs one while
# working on a test. Arguments go to cargo test (e.g. `-- a_welcome` filters by name).
wasm-pack test --headless ${WSGUARD_BROWSERS:---chrome --firefox} --mode no-install . -- "$@"
