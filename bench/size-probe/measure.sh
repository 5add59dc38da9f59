#!/usr/bin/env bash
# What the sans-IO client core weighs alone, behind a numeric ABI (no wasm-bindgen,
# no JS objects built in Rust): the floor of a "core in wasm, browser layer in JS"
# SDK (bench/SIZE.md). Builds this probe for wasm32 at opt-level "z", optimizes it
# with the SDK's wasm-opt flags and prints raw and gzipped bytes. Not shipped.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
cargo build --quiet --release --target wasm32-unknown-unknown --target-dir "$root/target/size-probe"
flags=$(sed -n '/^\[package.metadata.wasm-pack.profile.release\]/,/^\[/ s/^wasm-opt *= *\[\(.*\)\]/\1/p' "$root/Cargo.toml" | tr -d '",')
out="$root/target/size-probe/probe.wasm"
# shellcheck disable=SC2086
wasm-opt $flags "$root/target/size-probe/wasm32-unknown-unknown/release/wsguard_size_probe.wasm" -o "$out"
echo "size probe (core + numeric ABI): $(wc -c < "$out") B raw, $(gzip -9 -c "$out" | wc -c) B gzipped"
