#!/usr/bin/env bash
# Rebuild paas/dataclips/static/editor.js (CodeMirror 6 + lang-sql) and its licence file from the
# versions pinned in scripts/editor/package.json and package-lock.json. Node and npm come from the
# machine; the packages go under .venv/node (ignored by git). The output is committed, so the daemon
# never needs node: run this only to change the editor.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/.venv/node/editor"
out="$root/paas/dataclips/static"
mkdir -p "$build"
cp "$root/scripts/editor/package.json" "$root/scripts/editor/editor.mjs" "$root/scripts/editor/licences.mjs" "$build/"
if [ -f "$root/scripts/editor/package-lock.json" ]; then
  cp "$root/scripts/editor/package-lock.json" "$build/"
  (cd "$build" && npm ci --no-audit --no-fund --loglevel=error)
else  # first build: make the lock file, then keep it with the sources
  (cd "$build" && npm install --no-audit --no-fund --loglevel=error)
  cp "$build/package-lock.json" "$root/scripts/editor/package-lock.json"
fi
cd "$build"
# same inputs, same esbuild version, same flags: the same bytes out
./node_modules/.bin/esbuild editor.mjs --bundle --format=iife --minify --target=es2020 \
  --legal-comments=none --charset=utf8 --metafile=meta.json --outfile="$out/editor.js" --log-level=warning
node licences.mjs meta.json > "$out/editor.js.LICENSE.txt"
echo "built $out/editor.js ($(wc -c < "$out/editor.js") bytes) and editor.js.LICENSE.txt"
