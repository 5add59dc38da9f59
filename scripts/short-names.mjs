// Shortens the names the wasm and its JS glue know each other by (issue 12, bench/SIZE.md).
//
// wasm-bindgen names every import after the Rust item plus a 16-hex-digit hash
// (`__wbg_addEventListener_847fd86b8c33ec43`) and every closure export after a
// symbol hash; each name is written twice, in the wasm and in the glue, and the
// hashes do not compress. This renames the imports of the glue's own module
// (`./wsguard_bg.js`, itself renamed `a`; not the inline snippets, which are ES
// modules imported by their export names) and every export but `memory` to one- or two-letter names,
// in the wasm's import and export sections and in the glue, consistently.
//
// It refuses rather than guesses: each old name must appear in the glue exactly
// where expected (an import as an object key, an export as a property access), or
// the build fails.
//
// The declarations of the wasm's exports (`InitOutput` in the glue's .d.ts, the
// wasm's own .d.ts) are renamed alike, so the types still say what `init()` returns.
//
// node scripts/short-names.mjs pkg/wsguard_bg.wasm pkg/wsguard.js [DTS...]
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jsPath, ...dtsPaths] = process.argv.slice(2);
if (!wasmPath || !jsPath) throw new Error("usage: short-names.mjs WASM JS [DTS...]");
const GLUE_MODULE = "./wsguard_bg.js";
const GLUE_MODULE_SHORT = "a";
// `start`: the start function wasm-bindgen also exports (nothing reads it; the name is a
// common word the bundle may hold elsewhere).
const KEEP_EXPORTS = new Set(["memory", "start"]);

const bytes = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");

// --- wasm binary reading and writing (only what the two sections need) ---
function readU32(buf, at) {
  let result = 0, shift = 0, b;
  do {
    b = buf[at++];
    result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [result >>> 0, at];
}
function u32(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
function readName(buf, at) {
  const [len, start] = readU32(buf, at);
  return [buf.subarray(start, start + len).toString("utf8"), start + len];
}
const name = (s) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s, "utf8")]);

// Short names: a..z, A..Z, $, _, then two letters; never a JS reserved word.
const FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$_";
const RESERVED = new Set(["do", "if", "in"]);
function* shortNames() {
  for (const a of FIRST) yield a;
  for (const a of FIRST) for (const b of FIRST + "0123456789") if (!RESERVED.has(a + b)) yield a + b;
}

if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath} is not a wasm module`);
const sections = [];
for (let at = 8; at < bytes.length; ) {
  const id = bytes[at];
  const [size, start] = readU32(bytes, at + 1);
  sections.push({ id, body: bytes.subarray(start, start + size) });
  at = start + size;
}

const renamed = { imports: new Map(), exports: new Map() };
const names = shortNames();

// A section that is a vector of entries: each entry rewritten by `entry(at)`,
// which returns its new bytes and where the next entry starts.
function rewriteVector(body, section, entry) {
  const [count, first] = readU32(body, 0);
  const parts = [u32(count)];
  let at = first;
  for (let i = 0; i < count; i++) {
    const [bytes, end] = entry(at);
    parts.push(...bytes);
    at = end;
  }
  if (at !== body.length) throw new Error(`${section} section: trailing bytes`);
  return Buffer.concat(parts);
}

// Limits (of a table or a memory): flags, minimum, maximum if flags say so.
function limitsEnd(body, at) {
  const end = readU32(body, at + 1)[1];
  return body[at] & 1 ? readU32(body, end)[1] : end;
}

// Import section (id 2): module, field, then the import's description.
const rewriteImports = (body) => rewriteVector(body, "import", (at) => {
  const [module, afterModule] = readName(body, at);
  const [field, desc] = readName(body, afterModule);
  const kind = body[desc];
  let end;
  if (kind === 0x00) end = readU32(body, desc + 1)[1]; // func: type index
  else if (kind === 0x01) end = limitsEnd(body, desc + 2); // table: reftype, limits
  else if (kind === 0x02) end = limitsEnd(body, desc + 1); // memory: limits
  else if (kind === 0x03) end = desc + 3; // global: valtype, mut
  else throw new Error(`import ${module}.${field}: kind ${kind} not handled`);
  if (module !== GLUE_MODULE) return [[body.subarray(at, end)], end];
  if (!renamed.imports.has(field)) renamed.imports.set(field, names.next().value);
  return [[name(GLUE_MODULE_SHORT), name(renamed.imports.get(field)), body.subarray(desc, end)], end];
});

// Export section (id 7): field, kind, index.
const rewriteExports = (body) => rewriteVector(body, "export", (at) => {
  const [field, desc] = readName(body, at);
  const end = readU32(body, desc + 1)[1];
  if (KEEP_EXPORTS.has(field)) return [[body.subarray(at, end)], end];
  renamed.exports.set(field, names.next().value);
  return [[name(renamed.exports.get(field)), body.subarray(desc, end)], end];
});

const out = [bytes.subarray(0, 8)];
for (const { id, body } of sections) {
  const newBody = id === 2 ? rewriteImports(body) : id === 7 ? rewriteExports(body) : body;
  out.push(Buffer.from([id]), u32(newBody.length), newBody);
}

// --- the glue ---
const escape = (s) => s.replace(/[$]/g, "\\$");
const count = (re) => (js.match(re) || []).length;
function replaceIn(old, neu, pattern, what) {
  const all = new RegExp(`(?<![\\w$])${escape(old)}(?![\\w$])`, "g");
  const expected = new RegExp(pattern(escape(old)), "g");
  // The glue's own ES export of the same name (`export{f as liveSocketListeners}`) stays.
  const esExport = new RegExp(`(?<=\\bas )${escape(old)}(?=[,}])`, "g");
  const n = count(all);
  // An import the glue does not provide would fail at load; an export it never
  // reads (`__abort_handler`) is just renamed.
  if ((n === 0 && what === "import") || n !== count(expected) + count(esExport)) {
    throw new Error(`${what} \`${old}\`: ${n} mention(s) in ${jsPath}, ${count(expected)} where expected`);
  }
  js = js.replace(expected, (m) => m.replace(old, neu));
}
// The glue module's key in the import object: `"./wsguard_bg.js":{`.
const moduleKey = JSON.stringify(GLUE_MODULE) + ":";
if (js.split(moduleKey).length !== 2) throw new Error(`${jsPath}: the import object's ${moduleKey} key is not there once`);
js = js.replace(moduleKey, `${GLUE_MODULE_SHORT}:`);
for (const [old, neu] of renamed.imports) {
  // A key of the import object: `name:` or `name(` (method shorthand).
  replaceIn(old, neu, (o) => `(?<![\\w$.])${o}(?=\\s*[:(])`, "import");
}
for (const [old, neu] of renamed.exports) {
  // A property of the instance's exports: `.name`.
  replaceIn(old, neu, (o) => `(?<=\\.)${o}(?![\\w$])`, "export");
}

writeFileSync(wasmPath, Buffer.concat(out));
writeFileSync(jsPath, js);
for (const path of dtsPaths) {
  let dts = readFileSync(path, "utf8");
  for (const [old, neu] of renamed.exports) {
    // `readonly name:` (InitOutput) or `export const name:` (the wasm's .d.ts).
    dts = dts.replace(new RegExp(`(?<=(?:readonly|export const) )${escape(old)}(?=:)`, "g"), neu);
  }
  writeFileSync(path, dts);
}
console.log(`short names: ${renamed.imports.size} imports and ${renamed.exports.size} exports renamed`);
