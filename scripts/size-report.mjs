// What the SDK's wasm is made of: a names-keeping copy of the release build
// (target/size/named.wasm, made by scripts/size-report.sh) read by `twiggy top`,
// grouped by crate (and by the std parts issue 12 asks about: formatting and
// panics, B-tree maps, sorting) and listed by function.
//
// node scripts/size-report.mjs <twiggy top json> [--markdown FILE] [--json FILE]
// (--json: the groups and top functions as one object, for bench/run.sh's results)
// Sizes are raw bytes of the optimized wasm (the name section left out), with
// each group's share; the gzipped totals (gzip -9, as the bundle gate counts) come
// from scripts/size-report.sh.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { transformSync } from "esbuild";
import { gzipSync } from "node:zlib";

const [input, ...flags] = process.argv.slice(2);
const option = (name) => {
  const i = flags.indexOf(name);
  return i >= 0 ? flags[i + 1] : undefined;
};
const items = JSON.parse(readFileSync(input, "utf8")).filter((i) => !/subsection"?$/.test(i.name));
const total = items.reduce((s, i) => s + i.shallow_size, 0);

// The crate an item comes from: the first path segment of its name
// (`<dlmalloc[hash]::…>::malloc` → dlmalloc), with wasm-bindgen's generated
// shims, data segments and a few std parts of interest named apart.
function group(name) {
  if (/^"?data segment/.test(name)) return "data segments (strings, tables)";
  if (/ shim$|^__wbindgen|^__wbg|^wasm_bindgen|^js_sys|^web_sys/.test(name)) return "wasm-bindgen glue (shims, js-sys)";
  // The numeric exports JS calls (src/abi), each with the core's code it runs inlined.
  if (/^(core|share|tabs|leader|relay)_[a-z_]+$/.test(name)) return "exports (src/abi: the wrappers wasm-bindgen writes)";
  if (/^(type|import|export|elem|table|memory|global|code|custom)\b|section/.test(name)) return "wasm sections (types, imports, exports)";
  if (/::fmt::|::panicking::|panic|::fmt\b|Formatter/.test(name)) return "core::fmt + panics";
  if (/collections::btree/.test(name)) return "BTreeMap/BTreeSet (alloc)";
  if (/collections::hash|hashbrown/.test(name)) return "HashMap (std)";
  if (/slice::sort/.test(name)) return "sorting (core)";
  if (/^core::ptr::drop_in_place/.test(name)) return "drop glue";
  const head = name.replace(/^[<&*( ]+|^dyn |^const |^mut /g, "").match(/^[A-Za-z_][A-Za-z0-9_]*/);
  if (!head) return "other";
  const crate = head[0];
  if (crate === "wsguard") return "wsguard (src/abi: handles, outputs)";
  if (crate === "wsguard_protocol") return "wsguard-protocol (sans-IO core)";
  if (["core", "alloc", "std", "__rustc", "u64", "u32", "str", "round", "fmin", "fmax"].includes(crate)) return "std/core/alloc (other)";
  if (/^(memcpy|memset|memmove|memcmp|bcmp|__)/.test(crate)) return "compiler builtins (mem*)";
  if (/^(func|f)\d+$/.test(crate)) return "unnamed functions";
  return crate;
}

const groups = new Map();
for (const item of items) {
  const g = group(item.name);
  const entry = groups.get(g) ?? { bytes: 0, count: 0 };
  entry.bytes += item.shallow_size;
  entry.count += 1;
  groups.set(g, entry);
}
const byGroup = [...groups].sort((a, b) => b[1].bytes - a[1].bytes);
const topFunctions = items.filter((i) => !/^"?data segment/.test(i.name)).slice(0, 15);

const wasmRaw = readFileSync("pkg/wsguard_bg.wasm").length;
const wasmGz = Number(process.env.WASM_GZ);
const jsGz = Number(process.env.JS_GZ);
const pct = (n) => `${((100 * n) / total).toFixed(1)} %`;
const shortName = (n) => n.replace(/\[[0-9a-f]{16}\]/g, "").replace(/::h[0-9a-f]{16}$/, "").slice(0, 110);

const lines = [];
lines.push(`size report: wasm ${wasmRaw} B raw, ${wasmGz} B gzipped; JS ${jsGz} B gzipped; total ${wasmGz + jsGz} B gzipped`);
lines.push("size report: the wasm by crate (raw bytes of the optimized wasm, share):");
for (const [g, { bytes, count }] of byGroup) lines.push(`  ${String(bytes).padStart(7)} B ${pct(bytes).padStart(7)}  ${g} (${count} items)`);
// The JS a page loads: the one bundle shipped, then each module of the JS layer
// minified alone (gzip -9 of each alone: they add up to more than the bundle, which
// gzips them together).
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
lines.push("size report: the JS (raw, gzipped alone):");
const bundle = readFileSync("pkg/wsguard.js");
lines.push(`  ${String(bundle.length).padStart(7)} B ${String(gz(bundle)).padStart(7)} B gz  pkg/wsguard.js (the bundle: wasm-bindgen's glue and src/web/*.js)`);
for (const f of readdirSync("src/web").filter((f) => f.endsWith(".js")).sort()) {
  const min = Buffer.from(transformSync(readFileSync(`src/web/${f}`, "utf8"), { minify: true, format: "esm" }).code);
  lines.push(`  ${String(min.length).padStart(7)} B ${String(gz(min)).padStart(7)} B gz  src/web/${f} (minified alone)`);
}
lines.push("size report: top functions:");
for (const i of topFunctions) lines.push(`  ${String(i.shallow_size).padStart(7)} B ${pct(i.shallow_size).padStart(7)}  ${shortName(i.name)}`);
console.log(lines.join("\n"));

const mdFile = option("--markdown");
if (mdFile) {
  const md = [];
  md.push(`| group | raw bytes | share | items |`, `|---|---:|---:|---:|`);
  for (const [g, { bytes, count }] of byGroup) md.push(`| ${g} | ${bytes} | ${pct(bytes)} | ${count} |`);
  md.push("", `| function | raw bytes | share |`, `|---|---:|---:|`);
  for (const i of topFunctions) md.push(`| \`${shortName(i.name).replace(/\|/g, "\\|")}\` | ${i.shallow_size} | ${pct(i.shallow_size)} |`);
  writeFileSync(mdFile, `${md.join("\n")}\n`);
}

const jsonFile = option("--json");
if (jsonFile) {
  const breakdown = {
    wasm_raw: wasmRaw, wasm_gz: wasmGz, js_gz: jsGz,
    groups: byGroup.map(([g, { bytes, count }]) => ({ group: g, bytes, items: count })),
    functions: topFunctions.slice(0, 10).map((i) => ({ name: shortName(i.name), bytes: i.shallow_size })),
  };
  writeFileSync(jsonFile, `${JSON.stringify(breakdown)}\n`);
}
