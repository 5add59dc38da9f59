#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need, idempotently.
# Fast (a few seconds) when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock 2>/dev/null | sed -n 's/^version = "\(.*\)"/\1/p' | head -1 || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}
WASM_PACK_VERSION=0.15.1
KOSOKU_VERSION=0.1.0
WEBSOCKETS_VERSION=15.0.1
GECKODRIVER_VERSION=0.37.1

log() { printf '[bootstrap] %s\n' "$*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

# 1. Rust wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. Debian packages: headless Chromium + driver, Firefox ESR (the second browser
#    engine of the browser tests; its driver is built below), Redis.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v firefox-esr >/dev/null || need_apt+=(firefox-esr)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# geckodriver 0.36+ drives Firefox >= 128 only.
firefox_major=$(firefox-esr --version 2>/dev/null | sed -n 's/.* \([0-9]*\)\..*/\1/p')
if [ "${firefox_major:-0}" -lt 128 ]; then
  echo "Firefox ${firefox_major:-?} is too old for geckodriver $GECKODRIVER_VERSION (need >= 128)" >&2; exit 1
fi
# Debian's binaryen ships wasm-opt 108, which silently breaks release builds.
if dpkg -s binaryen >/dev/null 2>&1; then
  log "removing Debian's binaryen (wasm-opt 108 breaks release builds)"
  apt-get remove -y -qq binaryen >/dev/null
fi

# 3. Cargo-installed tools, pinned.
if [ "$(wasm-pack --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]; then
  log "cargo install wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --quiet
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ] \
  || ! command -v wasm-bindgen-test-runner >/dev/null; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --force --quiet \
    || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --quiet
fi

if [ "$(geckodriver --version 2>/dev/null | sed -n 1p)" != "geckodriver $GECKODRIVER_VERSION" ]; then
  log "cargo install geckodriver $GECKODRIVER_VERSION"
  cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked --quiet \
    || cargo install geckodriver --version "$GECKODRIVER_VERSION" --quiet
fi

# 4. npm tools (wasm-opt from binaryen@132, esbuild, playwright-core, typescript), from package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The bundler examples (Vite, webpack) install the SDK's packed tarball, made by
# scripts/build-sdk.sh after this bootstrap: examples/install.sh installs them
# (idempotent; the page tests run it). Here it only refreshes them early when a
# tarball exists, so a changed example package.json downloads before the build.
if compgen -G "target/npm/wsguard-*.tgz" >/dev/null; then
  examples/install.sh || log "examples not refreshed now (the page tests install them after the build)"
fi
wasm_opt_major=$(node_modules/.bin/wasm-opt --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
if [ "${wasm_opt_major:-0}" -lt 116 ]; then
  echo "wasm-opt $wasm_opt_major is too old (need >= 116)" >&2; exit 1
fi

# 5. Python tools in a private venv: the Autobahn conformance runner and the
#    websockets library of the independent protocol client.
if ! .tools/venv/bin/kosoku --help >/dev/null 2>&1 \
  || [ "$(.tools/venv/bin/python -c 'import websockets; print(websockets.__version__)' 2>/dev/null)" != "$WEBSOCKETS_VERSION" ]; then
  log "pip install kosoku==$KOSOKU_VERSION websockets==$WEBSOCKETS_VERSION"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION" "websockets==$WEBSOCKETS_VERSION"
fi
log "ok"
