#!/usr/bin/env bash
# Size report of the SDK's wasm (issue 12): what the bundle is made of, by crate and
# by function. Run after scripts/build-sdk.sh: it reuses that release build
# (target/wasm32-unknown-unknown/release/wsguard.wasm), runs wasm-bindgen and the
# pinned wasm-opt with the release flags plus -g (keeps function names), and reads
# the result with twiggy. About 3 s.
#
# It never fails the build: without twiggy (not installed by the bootstrap; on
# this machine `cargo install twiggy --version 0.8.0 --locked`) or without a
# release build it prints one line saying so and exits 0.
#
# scripts/size-report.sh [--markdown FILE]   (FILE: the tables, for bench/SIZE.md)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

skip() { echo "size report: skipped ($*)"; exit 0; }
command -v twiggy >/dev/null || skip "twiggy is not installed: cargo install twiggy --version 0.8.0 --locked"
input=target/wasm32-unknown-unknown/release/wsguard.wasm
[ -f "$input" ] && [ -f pkg/wsguard_bg.wasm ] || skip "no release build: run scripts/build-sdk.sh first"

# The same wasm-opt flags as the release build (Cargo.toml's wasm-pack metadata).
flags=$(sed -n '/^\[package.metadata.wasm-pack.profile.release\]/,/^\[/ s/^wasm-opt *= *\[\(.*\)\]/\1/p' Cargo.toml | tr -d '",')
[ -n "$flags" ] || skip "no wasm-opt flags found in Cargo.toml"
out=target/size
rm -rf "$out" && mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" "$input" >/dev/null 2>&1 || skip "wasm-bindgen failed on $input"
# shellcheck disable=SC2086
wasm-opt -g $flags "$out/wsguard_bg.wasm" -o "$out/named.wasm" 2>/dev/null || skip "wasm-opt failed"
twiggy top -n 100000 -f json "$out/named.wasm" > "$out/top.json" 2>/dev/null || skip "twiggy failed"
# Gzipped sizes as the bundle gate counts them (gzip -9; the JS: glue + snippets).
# scripts/test.sh passes the ones it gated on; computed here only when run alone.
: "${WASM_GZ:=$(gzip -9 -c pkg/wsguard_bg.wasm | wc -c)}"
: "${JS_GZ:=$(cat pkg/wsguard.js $(find pkg/snippets -name '*.js' 2>/dev/null | sort) | gzip -9 -c | wc -c)}"
export WASM_GZ JS_GZ
node scripts/size-report.mjs "$out/top.json" "$@" || skip "the report script failed"
