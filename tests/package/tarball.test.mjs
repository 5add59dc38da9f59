// The packed npm package (scripts/build-sdk.sh → target/npm/wsguard-<version>.tgz),
// unpacked the way npm installs it: its file list, its package.json, its license
// texts, an optimized wasm, and resolution by Node and by TypeScript through `exports`.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { root, tarball } from "./tarball.mjs";

let tmp;
let unpacked;
let manifest;

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "wsguard-tarball-"));
  unpacked = path.join(tmp, "node_modules", "wsguard");
  mkdirSync(unpacked, { recursive: true });
  execFileSync("tar", ["-xzf", tarball().file, "-C", unpacked, "--strip-components=1"]);
  manifest = JSON.parse(readFileSync(path.join(unpacked, "package.json"), "utf8"));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

const read = (file) => readFileSync(path.join(unpacked, file));

test("the tarball holds the module, its wasm, its types, the README and both licenses, nothing else", () => {
  const files = execFileSync("tar", ["-tzf", tarball().file], { encoding: "utf8" }).trim().split("\n")
    .map((f) => f.replace(/^package\//, "")).sort();
  const snippets = files.filter((f) => f.startsWith("snippets/"));
  assert.ok(snippets.every((f) => /^snippets\/wsguard-[0-9a-f]+\/(inline\d+|src\/web\/host)\.js$/.test(f)), `snippets: ${snippets}`);
  assert.deepEqual(files.filter((f) => !f.startsWith("snippets/")), [
    "LICENSE-APACHE", "LICENSE-MIT", "README.md", "package.json", "wsguard.d.ts", "wsguard.js", "wsguard_bg.wasm",
  ]);
  assert.equal(manifest.files.includes("snippets"), snippets.length > 0);
});

test("package.json: name, version, license, ESM entry, types, exports, sideEffects, files, keywords", () => {
  const cargo = readFileSync(path.join(root, "Cargo.toml"), "utf8");
  const version = /\[workspace\.package\]\s*\nversion = "([^"]+)"/.exec(cargo)[1];
  assert.equal(manifest.name, "wsguard");
  assert.equal(manifest.version, version);
  assert.equal(manifest.version, tarball().version);
  assert.equal(manifest.license, "MIT OR Apache-2.0");
  assert.equal(manifest.repository.url, "https://github.com/wsguard/wsguard");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.main, "wsguard.js");
  assert.equal(manifest.types, "wsguard.d.ts");
  assert.deepEqual(manifest.exports, {
    ".": { types: "./wsguard.d.ts", default: "./wsguard.js" },
    "./wsguard_bg.wasm": "./wsguard_bg.wasm",
    "./package.json": "./package.json",
  });
  // The glue module has no side effects of its own; inline JS snippets (if any) are kept.
  assert.deepEqual(manifest.sideEffects, manifest.files.includes("snippets") ? ["./snippets/*"] : false);
  for (const f of ["wsguard.js", "wsguard.d.ts", "wsguard_bg.wasm", "README.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
    assert.ok(manifest.files.includes(f), `files lists ${f}`);
  }
  assert.ok(manifest.keywords.includes("websocket") && manifest.keywords.includes("webassembly"), `keywords: ${manifest.keywords}`);
  assert.equal(manifest.engines, undefined, "a browser package: engines (node/npm) would mislead");
});

test("the license texts are the MIT and Apache-2.0 texts of the repository", () => {
  assert.deepEqual(read("LICENSE-MIT"), readFileSync(path.join(root, "LICENSE-MIT")));
  assert.deepEqual(read("LICENSE-APACHE"), readFileSync(path.join(root, "LICENSE-APACHE")));
  assert.match(read("LICENSE-MIT").toString(), /^MIT License\n\nCopyright \(c\) the wsguard authors\n/);
  assert.match(read("LICENSE-APACHE").toString(), /Apache License\s+Version 2\.0, January 2004/);
});

test("it is the pkg/ built, and its wasm went through wasm-opt (no name section left)", () => {
  for (const f of ["wsguard.js", "wsguard.d.ts", "wsguard_bg.wasm"]) {
    assert.ok(read(f).equals(readFileSync(path.join(root, "pkg", f))), `${f} differs from pkg/${f}: run scripts/build-sdk.sh`);
  }
  // wasm-bindgen leaves a `name` custom section (44 KB here) that wasm-opt removes.
  const wasm = read("wsguard_bg.wasm");
  const custom = [];
  let i = 8;
  const leb = () => { let n = 0; let shift = 0; let b; do { b = wasm[i++]; n += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return n; };
  while (i < wasm.length) {
    const id = wasm[i++];
    const end = leb() + i;
    if (id === 0) { const len = leb(); custom.push(wasm.subarray(i, i + len).toString()); }
    i = end;
  }
  assert.ok(!custom.includes("name"), `custom sections: ${custom}`);
});

test("consumers resolve it through exports: Node's import, and TypeScript (bundler and nodenext)", () => {
  const require = createRequire(path.join(tmp, "consumer.js"));
  assert.equal(require.resolve("wsguard"), path.join(unpacked, "wsguard.js"));
  assert.equal(require.resolve("wsguard/package.json"), path.join(unpacked, "package.json"));
  assert.equal(require.resolve("wsguard/wsguard_bg.wasm"), path.join(unpacked, "wsguard_bg.wasm"));
  assert.throws(() => require.resolve("wsguard/wsguard_bg.wasm.d.ts"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" });

  writeFileSync(path.join(tmp, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(path.join(tmp, "probe.mjs"),
    'import init, { Client, initSync } from "wsguard";\nconsole.log(typeof init, typeof Client, typeof initSync);\n');
  assert.equal(execFileSync(process.execPath, ["probe.mjs"], { cwd: tmp, encoding: "utf8" }).trim(), "function function function");

  writeFileSync(path.join(tmp, "consumer.ts"), [
    'import init, { Client, type ClientState } from "wsguard";',
    "export async function start(url: string): Promise<ClientState> {",
    "  await init();",
    '  const client = new Client(url, { token: "alice" });',
    "  return client.state;",
    "}",
    "",
  ].join("\n"));
  const tsc = path.join(root, "node_modules", ".bin", "tsc");
  const common = ["--noEmit", "--strict", "--target", "es2022", "--lib", "esnext,dom", "consumer.ts"];
  execFileSync(tsc, ["--module", "es2022", "--moduleResolution", "bundler", ...common], { cwd: tmp, stdio: ["ignore", 2, 2] });
  execFileSync(tsc, ["--module", "nodenext", "--moduleResolution", "nodenext", ...common], { cwd: tmp, stdio: ["ignore", 2, 2] });
});
