#!/usr/bin/env bash
# Runs every benchmark case for wsguard-server and its peers, side by side, on this
# machine, then writes bench/RESULTS.md and bench/fanout.png.
#
# Every server is pinned to core 0 and the load generator to core 1; loopback only;
# every loop is bounded. RUNS (default 3) runs per case; the report shows medians
# and the spread.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
RUNS=${RUNS:-3}
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null
cargo build --quiet --release -p wsguard-server
scripts/build-sdk.sh
(cd bench && cargo build --quiet --release)
if [ ! -f bench/peers/node_modules/.wsguard-installed ] || [ bench/peers/package.json -nt bench/peers/node_modules/.wsguard-installed ]; then
  (cd bench/peers && npm install --no-audit --no-fund --loglevel=error --no-package-lock && touch node_modules/.wsguard-installed)
fi
# 10,000 client sockets plus as many server sockets.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

LOADGEN=bench/target/release/wsguard-loadgen
OUT=bench/results.jsonl
# CLIENT_ONLY=1: only the SDK's runs (headless Chromium) and its bundle again; the
# servers' lines of the last full run are kept (for a change to the SDK alone).
if [ "${CLIENT_ONLY:-}" = 1 ]; then
  grep -v '"server": *"sdk"' "$OUT" > "$OUT.servers" || true
  mv "$OUT.servers" "$OUT"
else
  : > "$OUT"
fi
PY=.tools/venv/bin/python

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME PORT: starts the named server pinned to core 0; sets SERVER_PID and URL.
start_server() {
  local name=$1 port=$2
  case $name in
    wsguard)
      taskset -c 0 target/release/wsguard-server --addr "127.0.0.1:$port" --max-frames-per-sec 0 \
        --max-connections-per-user 0 --heartbeat-ms 60000 2>/dev/null &
      URL="ws://127.0.0.1:$port/ws"; PEER=wsguard ;;
    node-ws)
      taskset -c 0 node bench/peers/node-ws.mjs "127.0.0.1:$port" >/dev/null 2>&1 &
      URL="ws://127.0.0.1:$port/"; PEER=ws ;;
    socket.io)
      taskset -c 0 node bench/peers/socketio.mjs "127.0.0.1:$port" >/dev/null 2>&1 &
      URL="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket"; PEER=socketio ;;
    python-websockets)
      taskset -c 0 $PY bench/peers/python_websockets.py "127.0.0.1:$port" >/dev/null 2>&1 &
      URL="ws://127.0.0.1:$port/"; PEER=ws ;;
    socketioxide)
      taskset -c 0 bench/target/release/socketioxide-broadcast "127.0.0.1:$port" >/dev/null 2>&1 &
      URL="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket"; PEER=socketio ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$name did not start" >&2; return 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# run_case NAME LABEL LOADGEN-ARGS...: one fresh server per run.
run_case() {
  local name=$1 label=$2; shift 2
  for run in $(seq 1 "$RUNS"); do
    local port; port=$(free_port)
    start_server "$name" "$port"
    local line
    if line=$(timeout 120 taskset -c 1 "$LOADGEN" --peer "$PEER" --url "$URL" --server-pid "$SERVER_PID" "$@" 2>/dev/null); then
      echo "$line" | $PY -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(server='$name', label='$label', run=$run); print(json.dumps(r))" >> "$OUT"
      echo "  $name $label run $run: $(echo "$line" | cut -c1-160)"
    else
      echo "{\"server\":\"$name\",\"label\":\"$label\",\"run\":$run,\"error\":\"load generator failed or timed out\"}" >> "$OUT"
      echo "  $name $label run $run: FAILED"
    fi
    stop_server
  done
}

for name in $([ "${CLIENT_ONLY:-}" = 1 ] || echo wsguard node-ws socket.io python-websockets socketioxide); do
  echo "== $name"
  run_case "$name" "burst" fanout --subscribers 1000 --messages 2000
  run_case "$name" "paced 0.1M/s" fanout --subscribers 1000 --rate 100 --seconds 5
  run_case "$name" "paced 1M/s" fanout --subscribers 1000 --rate 1000 --seconds 5
  run_case "$name" "overload 2M/s" fanout --subscribers 1000 --rate 2000 --seconds 5
  run_case "$name" "connect 10k" connect --connections 10000
  run_case "$name" "idle 10k" idle --connections 10000
done

echo "== client (headless Chromium)"
# The client runs are short (~30 s each) and their spread wide: more of them (the
# end-to-end dispatch ratio's median of 7 runs moved by ±0.2 between runs of the bench).
RUNS=${CLIENT_RUNS:-15} node bench/client/run.mjs | tee -a "$OUT"
# The bundle as the test command's gate counts it: the wasm, and the JS a page
# loads (the minified glue and its inline snippets).
mapfile -t js < <(echo pkg/wsguard.js; find pkg/snippets -name '*.js' 2>/dev/null | sort)
js_raw=$(cat "${js[@]}" | wc -c); js_gz=$(cat "${js[@]}" | gzip -9 -c | wc -c)
wasm_gz=$(gzip -9 -c pkg/wsguard_bg.wasm | wc -c)
echo "{\"server\":\"sdk\",\"label\":\"bundle\",\"wasm_raw\":$(wc -c < pkg/wsguard_bg.wasm),\"wasm_gz\":$wasm_gz,\"js_raw\":$js_raw,\"js_gz\":$js_gz}" >> "$OUT"
# What the wasm is made of (scripts/size-report.sh: by crate, by function), for the
# report's breakdown; nothing if twiggy is not installed (the report says so).
rm -f target/size/breakdown.json
WASM_GZ=$wasm_gz JS_GZ=$js_gz scripts/size-report.sh --json target/size/breakdown.json >/dev/null
if [ -f target/size/breakdown.json ]; then
  node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(JSON.stringify({ server: "sdk", label: "size breakdown", ...b }))' target/size/breakdown.json >> "$OUT"
fi

bench/target/release/wsguard-bench-report "$OUT" bench/RESULTS.md bench/fanout.png
echo "wrote bench/RESULTS.md and bench/fanout.png"
