#!/usr/bin/env bash
# Installs what the build and the tests need, and nothing that is already there.
# Safe to run any number of times; `npm test` and `npm start` run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock 2>/dev/null || true)
if [ -n "$want" ]; then
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (had: ${have:-none})"
    # Not --locked: one locked dependency version is missing from the registry here.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
fi

if ! command -v wasm-pack >/dev/null 2>&1; then
  say "installing wasm-pack"
  cargo install wasm-pack --locked
fi

if [ -f package-lock.json ]; then
  stamp=node_modules/.setup-stamp
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
    say "installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
fi

# Servers for the tests: redis-server (the Redis store's tests) and nginx (a
# round-robin load balancer in front of several instances). Debian's packages; the
# tests start their own on free loopback ports (pkg-tests/support/), so the system
# services are never started here, and one left running on 6379 or 80 is not used.
# And chromium, the real browser the www/ and web build tests drive through
# playwright-core (which cannot download browsers here).
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
servers=""
has redis-server || servers="$servers redis-server"
has nginx || servers="$servers nginx"
has chromium || servers="$servers chromium"
if [ -n "$servers" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get here: install these Debian packages (or their equivalents) by hand:$servers"
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    say "not root and no sudo: as root, run apt-get update && apt-get install -y --no-install-recommends$servers"
    exit 1
  fi
  say "installing Debian packages:$servers"
  # Keep the packages' maintainer scripts from starting the system services
  # (invoke-rc.d and deb-systemd-invoke ask policy-rc.d; 101 means "not allowed").
  # A policy-rc.d that was already there is left as it was.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${as_root[@]}" chmod 755 /usr/sbin/policy-rc.d
    trap '"${as_root[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $servers >/dev/null
fi

# Fuzzing (npm run fuzz, and a short pass in npm test): cargo-fuzz on nightly.
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  say "installing the nightly toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
