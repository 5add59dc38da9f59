// The npm package as a team receives it: the tarball scripts/build-sdk.sh packs
// (target/npm/wsguard-<version>.tgz), and the example apps that install it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The tarball of the package built in pkg/; fails with the command to run when it is missing. */
export function tarball() {
  const built = path.join(root, "pkg", "package.json");
  assert.ok(existsSync(built), "pkg/ is missing: run scripts/build-sdk.sh");
  const { version } = JSON.parse(readFileSync(built, "utf8"));
  const file = path.join(root, "target", "npm", `wsguard-${version}.tgz`);
  assert.ok(existsSync(file), `${path.relative(root, file)} is missing: run scripts/build-sdk.sh`);
  return { file, version };
}

/** Installs the tarball into examples/<name> (examples/install.sh: a no-op when nothing changed); returns the app's directory. */
export function installExample(name) {
  execFileSync(path.join(root, "examples", "install.sh"), [name], { stdio: ["ignore", 2, 2] });
  return path.join(root, "examples", name);
}

/** Asserts that the app's node_modules/wsguard was installed from the current tarball (npm's integrity), not linked. */
export function assertInstalledFromTarball(app) {
  const { file } = tarball();
  const integrity = `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
  const lock = JSON.parse(readFileSync(path.join(app, "node_modules", ".package-lock.json"), "utf8"));
  const installed = lock.packages["node_modules/wsguard"];
  assert.equal(installed.link, undefined, "wsguard is linked, not installed");
  assert.ok(!lstatSync(path.join(app, "node_modules", "wsguard")).isSymbolicLink(), "node_modules/wsguard is a symlink");
  assert.equal(installed.integrity, integrity, "node_modules/wsguard is not the current tarball");
}
