#!/usr/bin/env bash
# The main job: build the package, then run the live demo on the real clock.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
node examples/server.mjs
