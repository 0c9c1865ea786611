#!/usr/bin/env bash
# Builds the npm package into dist/: the wasm facade crate (bindings/wasm, which pulls
# in the core) for wasm32 (release, through wasm-opt), its wasm-bindgen glue for Node
# under the module name mcp_session_core, and the TypeScript layer (CommonJS + an ESM
# entry); then the web build (mcp-session-core/web): the same module's web glue and
# the TypeScript layer bundled into one ES module (scripts/build-web.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

cargo build --release --lib --target wasm32-unknown-unknown -p mcp-session-core-wasm
rm -rf bindings/generated dist
wasm-bindgen --target nodejs --out-dir bindings/generated --out-name mcp_session_core \
  target/wasm32-unknown-unknown/release/mcp_session_core_wasm.wasm
wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  bindings/generated/mcp_session_core_bg.wasm -o bindings/generated/mcp_session_core_bg.wasm
wasm-bindgen --target web --out-dir bindings/generated/web --out-name mcp_session_core \
  target/wasm32-unknown-unknown/release/mcp_session_core_wasm.wasm
tsc -p bindings/tsconfig.json
tsc -p bindings/tsconfig.web.json
mkdir -p dist/generated dist/esm
cp bindings/generated/mcp_session_core.js bindings/generated/mcp_session_core.d.ts \
  bindings/generated/mcp_session_core_bg.wasm dist/generated/
cp bindings/esm/*.mjs dist/esm/
node scripts/build-web.mjs
printf '[build] dist/generated/mcp_session_core_bg.wasm: %s bytes\n' \
  "$(wc -c < dist/generated/mcp_session_core_bg.wasm)"

# The live inspector (www/, which the example server serves at /) and uPlot, its
# chart, with uPlot's licence: served from the package, never from a CDN.
mkdir -p dist/www/vendor/uplot
cp -R www/. dist/www/
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \
  node_modules/uplot/LICENSE dist/www/vendor/uplot/
