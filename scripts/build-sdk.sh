#!/usr/bin/env bash
# Builds the browser SDK as the npm package teams install: pkg/ (wasm-pack, release,
# web target, optimized by the pinned wasm-opt) and its tarball
# target/npm/wsguard-<version>.tgz (`npm pack`). The one way to build the SDK: the
# README, the demo, the tests and the benchmarks all go through it.
#
# It fails instead of shipping a degraded package: without wasm-opt on PATH,
# `wasm-pack --mode no-install` skips optimization with only an [INFO] line
# (a bundle 27 % larger), so this script puts the pinned wasm-opt
# (npm binaryen, node_modules/.bin) first on PATH, checks its version, and fails
# on any wasm-pack warning (a missing LICENSE file, for one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

log() { printf '[build-sdk] %s\n' "$*" >&2; }
die() { printf '[build-sdk] error: %s\n' "$*" >&2; exit 1; }

# 1. Tools: installed by the bootstrap when one is missing (a fresh machine).
if ! command -v wasm-pack >/dev/null || ! command -v wasm-bindgen >/dev/null || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ]; then
  log "a build tool is missing: running scripts/bootstrap.sh"
  scripts/bootstrap.sh
fi

# 2. The wasm-opt wasm-pack will find must be the pinned one, not older
#    (Debian's wasm-opt 108 builds a wasm that fails on load).
pinned=$(node -p 'require("./package.json").devDependencies.binaryen.split(".")[0]')
found=$(command -v wasm-opt || true)
[ "$found" = "$PWD/node_modules/.bin/wasm-opt" ] \
  || die "wasm-opt on PATH is '${found:-nothing}', not the pinned node_modules/.bin/wasm-opt: run scripts/bootstrap.sh"
version=$(wasm-opt --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
[ "${version:-0}" -ge "$pinned" ] \
  || die "wasm-opt ${version:-?} is older than the pinned binaryen $pinned: run scripts/bootstrap.sh"

# 3. Build. wasm-pack's own lines go to the log too, so a skipped wasm-opt or any
#    warning fails the build instead of scrolling by.
mkdir -p target
# From an empty pkg/: wasm-pack leaves files of an earlier build there (snippets the
# code no longer has), and npm pack would ship them.
rm -rf pkg
build_log=target/build-sdk.log
# opt-level "z" for the wasm only (the server keeps the release profile's 3): measured
# 51.5 KB gzipped wasm against 53.7 KB with 3 and 52.7 KB with "s" (bench/SIZE.md).
CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  wasm-pack build --release --target web --mode no-install --out-dir pkg 2>&1 | tee "$build_log" >&2
grep -q 'Optimizing wasm binaries with `wasm-opt`' "$build_log" \
  || die "wasm-pack did not run wasm-opt (see $build_log)"
# (wasm-pack's own update check asks crates.io's API for its latest version and
# warns when that is unreachable, as on a closed network: not about the package.)
if grep -E '^\[WARN\]|Skipping wasm-opt' "$build_log" | grep -v 'failed to get wasm-pack version' >&2; then
  die "wasm-pack warned (above): fix it rather than ship a degraded package"
fi

# 4. One JS module: the glue wasm-bindgen wrote and the JS layer (src/web/*.js,
#    which it copied as snippets) bundled, tree-shaken and minified (esbuild), as
#    it ships: the bundle is counted the way bundlephobia counts the libraries it
#    is compared with (minified, then gzipped). The entry exports `init`, `initSync`,
#    `Client` and `liveSocketListeners`; the types are src/web/wsguard.d.ts.
# The glue's `Core` and `Share` classes (wasm-bindgen writes one per exported struct)
# are not used: the JS layer calls the raw exports (src/web/core.js, share.js). Cut
# before bundling, with their finalizers and the class check only `Share.resume`
# used (esbuild keeps a class whose prototype is written).
node --input-type=module - <<'EOF'
import { readFileSync, writeFileSync } from "node:fs";
let js = readFileSync("pkg/wsguard.js", "utf8");
const cuts = ["Core", "Share"].flatMap((name) => [
  new RegExp(`\\n(/\\*\\*(?:(?!\\*/)[\\s\\S])*\\*/\\n)?export class ${name} \\{[\\s\\S]*?\\nif \\(Symbol\\.dispose\\) ${name}\\.prototype\\[Symbol\\.dispose\\] = ${name}\\.prototype\\.free;\\n`),
  new RegExp(`\\nconst ${name}Finalization = [\\s\\S]*?\\n\\s*: new FinalizationRegistry\\(ptr => wasm\\.__wbg_${name.toLowerCase()}_free\\(ptr, 1\\)\\);\\n`),
]);
cuts.push(/\nfunction _assertClass\(instance, klass\) \{[\s\S]*?\n\}\n/);
for (const cut of cuts) {
  if (!cut.test(js)) throw new Error(`pkg/wsguard.js: ${cut} not found (wasm-bindgen's glue changed?)`);
  js = js.replace(cut, "\n");
}
writeFileSync("pkg/wsguard.js", js);
EOF
client=$(find pkg/snippets -path '*/src/web/client.js')
[ -n "$client" ] || die "wasm-bindgen did not copy src/web/client.js into pkg/snippets"
# `init` and `initSync` hand the wasm's exports to the JS layer (src/web/wasm.js
# `install`): no start function in the wasm (its externref handling weighed ~700 B).
web=$(dirname "${client#pkg/}")
cat > pkg/entry.js <<EOF
import init, { initSync as initWasmSync } from "./wsguard.js";
import { install } from "./$web/wasm.js";
export default async function __wbg_init(module_or_path) {
  const exports = await init(module_or_path);
  install(exports);
  return exports;
}
export function initSync(module) {
  const exports = initWasmSync(module);
  install(exports);
  return exports;
}
export { Client, liveSocketListeners } from "./$web/client.js";
EOF
esbuild pkg/entry.js --bundle --minify --format=esm --log-level=warning --outfile=pkg/wsguard.bundle.js
mv pkg/wsguard.bundle.js pkg/wsguard.js
rm -rf pkg/entry.js pkg/snippets
cp src/web/wsguard.d.ts pkg/wsguard.d.ts
# Short names between the wasm and the bundle, in both and in the export declarations
# (scripts/short-names.mjs; measured -2.8 KB gzipped, bench/SIZE.md).
node scripts/short-names.mjs pkg/wsguard_bg.wasm pkg/wsguard.js pkg/wsguard_bg.wasm.d.ts >&2

# 5. Complete package.json: wasm-pack writes name, version, license, main, types and
#    a files list without the licenses; add exports (with ./package.json and the
#    .wasm for apps that pass its URL to init()), keywords, homepage, bugs, and
#    sideEffects false unless there are JS snippets.
node --input-type=module - <<'EOF'
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
const file = "pkg/package.json";
const generated = JSON.parse(readFileSync(file, "utf8"));
const licenses = readdirSync("pkg").filter((f) => /^LICENSE/.test(f)).sort();
for (const want of ["LICENSE-APACHE", "LICENSE-MIT"]) {
  if (!licenses.includes(want)) throw new Error(`pkg/${want} is missing (wasm-pack copies LICENSE* from the crate root)`);
}
const snippets = existsSync("pkg/snippets");
const repo = generated.repository.url.replace(/\.git$/, "");
const pkg = {
  name: generated.name,
  version: generated.version,
  description: generated.description,
  keywords: ["websocket", "websockets", "reconnect", "backoff", "realtime", "rooms", "pubsub", "browser", "wasm", "webassembly"],
  homepage: `${repo}#readme`,
  bugs: { url: `${repo}/issues` },
  license: generated.license,
  repository: generated.repository,
  type: "module",
  main: generated.main,
  types: generated.types,
  exports: {
    ".": { types: `./${generated.types}`, default: `./${generated.main}` },
    "./wsguard_bg.wasm": "./wsguard_bg.wasm",
    "./package.json": "./package.json",
  },
  files: [...new Set([...generated.files.filter((f) => f !== "snippets" || snippets), "README.md", ...licenses])],
  sideEffects: snippets ? ["./snippets/*"] : false,
};
writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
EOF

# 6. Pack, and say what a team receives.
rm -rf target/npm && mkdir -p target/npm
(cd pkg && npm pack --json --pack-destination ../target/npm --loglevel=error) > target/npm/pack.json
node --input-type=module - <<'EOF'
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
const [p] = JSON.parse(readFileSync("target/npm/pack.json", "utf8"));
const gz = (f) => gzipSync(readFileSync(f), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`target/npm/${p.filename}: ${kb(p.size)} packed, ${kb(p.unpackedSize)} unpacked, ${p.entryCount} files`);
for (const f of p.files) console.log(`  ${String(f.size).padStart(7)} B  ${f.path}`);
console.log(`  wasm ${kb(gz("pkg/wsguard_bg.wasm"))} + JS glue ${kb(gz("pkg/wsguard.js"))} gzipped`);
EOF
