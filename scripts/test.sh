#!/usr/bin/env bash
# The whole test suite, in order:
#   1. Rust lints and native tests, for the workspace: the core (.) and the wasm
#      facade (bindings/wasm, empty on native targets, so linted for wasm32);
#   2. the facade inside wasm (wasm-pack test --node bindings/wasm);
#   3. the built npm package, packed and installed in a scratch app, from Node, with
#      the MCP tests run again against the oldest SDK the peer range allows;
#   4. a short pass of every cargo-fuzz target (fuzz/), from the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"

echo "== 1. cargo fmt --check, clippy (native and wasm32), cargo test --workspace"
cargo fmt --all --check
cargo clippy --all-targets --workspace -- -D warnings
cargo clippy --workspace --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p mcp-session-core-wasm --tests --target wasm32-unknown-unknown -- -D warnings
cargo test --workspace

echo "== 2. wasm-pack test --node bindings/wasm"
wasm-pack test --node --mode no-install bindings/wasm

echo "== 3. the npm package (pkg-tests/, node --test)"
bash scripts/build.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
npm pack --silent --pack-destination "$scratch" >/dev/null
mkdir "$scratch/app"
cp -R pkg-tests/. "$scratch/app/"
cp -R examples "$scratch/app/examples"
# The static pages (the inspector, the playground) for the browser tests.
cp -R www "$scratch/app/www"
# The MCP SDK, Express, zod, the redis client and playwright-core (the browser tests)
# at the versions this repo is locked to.
peers=$(node -e '
  for (const p of ["@modelcontextprotocol/sdk", "@modelcontextprotocol/server", "@modelcontextprotocol/client", "@modelcontextprotocol/node", "express", "zod", "redis", "playwright-core"])
    process.stdout.write(`${p}@${JSON.parse(require("fs").readFileSync(`node_modules/${p}/package.json`)).version} `)')
(
  cd "$scratch/app"
  printf '{ "name": "pkg-tests-app", "private": true }\n' > package.json
  npm install --silent --prefer-offline --no-audit --no-fund "$scratch"/mcp-session-core-*.tgz $peers
  TSC="$root/node_modules/.bin/tsc" node --test
)

echo "== 3b. the MCP tests against the oldest SDK the peer range allows"
oldest=$(node -p 'require("./package.json").peerDependencies["@modelcontextprotocol/sdk"].replace(/^\^/, "")')
mkdir "$scratch/oldest"
cp -R pkg-tests/. "$scratch/oldest/"
cp -R examples "$scratch/oldest/examples"
(
  cd "$scratch/oldest"
  printf '{ "name": "pkg-tests-oldest-sdk", "private": true }\n' > package.json
  npm install --silent --prefer-offline --no-audit --no-fund "$scratch"/mcp-session-core-*.tgz \
    "@modelcontextprotocol/sdk@$oldest" $(echo "$peers" | tr ' ' '\n' | grep -v '^@modelcontextprotocol/sdk@')
  node --test mcp.test.mjs mcp-handler.test.mjs security.test.mjs exhaustion.test.mjs
)

echo "== 4. fuzzing: a short pass of every target"
bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-20}"
