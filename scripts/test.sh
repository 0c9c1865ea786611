#!/usr/bin/env bash
# The whole test suite, in order: Rust lints and native tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test (native)"
cargo test
