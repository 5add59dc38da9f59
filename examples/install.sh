#!/usr/bin/env bash
# Installs the bundler examples the way a team installs wsguard: from the packed
# tarball that scripts/build-sdk.sh writes (target/npm/wsguard-<version>.tgz; each
# example depends on "file:../../target/npm/wsguard-<version>.tgz").
#
# Idempotent and quick when nothing changed: a full `npm install` only when an
# example's package.json changed, and only `npm install <tarball>` when the
# tarball changed (its sha256 is kept in node_modules/.wsguard-tarball).
#
#   examples/install.sh                 # every example
#   examples/install.sh vite-app        # one
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '[examples] %s\n' "$*" >&2; }
die() { printf '[examples] error: %s\n' "$*" >&2; exit 1; }

[ -f ../pkg/package.json ] || die "pkg/ is missing: run scripts/build-sdk.sh"
version=$(node -p 'require("../pkg/package.json").version')
tarball="../target/npm/wsguard-$version.tgz"
[ -f "$tarball" ] || die "$tarball is missing: run scripts/build-sdk.sh"
sum=$(sha256sum "$tarball" | cut -d' ' -f1)

examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(vite-app webpack-app)
for app in "${examples[@]}"; do
  [ -f "$app/package.json" ] || die "no example $app"
  spec=$(node -p "require('./$app/package.json').dependencies.wsguard")
  [ "$spec" = "file:../$tarball" ] \
    || die "$app/package.json depends on wsguard '$spec'; the package built is file:../$tarball"
  if [ ! -f "$app/node_modules/.wsguard-installed" ] || [ "$app/package.json" -nt "$app/node_modules/.wsguard-installed" ]; then
    log "npm install ($app)"
    (cd "$app" && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.wsguard-installed)
  elif [ "$(cat "$app/node_modules/.wsguard-tarball" 2>/dev/null)" != "$sum" ]; then
    log "npm install ../$tarball ($app: the package changed)"
    (cd "$app" && npm install --no-audit --no-fund --loglevel=error "../$tarball")
  else
    continue
  fi
  # What the app bundles must be what was packed.
  tar -xzOf "$tarball" package/wsguard.js | cmp -s - "$app/node_modules/wsguard/wsguard.js" \
    || die "$app/node_modules/wsguard is not the content of $tarball"
  echo "$sum" > "$app/node_modules/.wsguard-tarball"
done
