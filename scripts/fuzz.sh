#!/usr/bin/env bash
# npm run fuzz -- [--seconds N] [target ...]
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for N seconds each (default 60)
# on the nightly toolchain, starting from the committed seed corpus (fuzz/corpus/,
# read only) and a working corpus under target/fuzz/ that keeps what each run finds.
# Prints the executions per target; a crash fails the run and leaves the input under
# target/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(restore gate merge_patch operations handles request_state)
fi

bash scripts/setup.sh

work=target/fuzz
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "fuzz/corpus/$t"
  log="$work/$t.log"
  echo "== fuzz $t for ${seconds}s"
  if ! (cd fuzz && cargo +nightly fuzz run --fuzz-dir . "$t" \
      "../$work/corpus/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -artifact_prefix="../$work/artifacts/$t/" \
      -print_final_stats=1) >"$log" 2>&1; then
    tail -40 "$log"
    echo "[fuzz] $t FAILED: the input is in $work/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | awk '{print $2}')
  summary+=("$t: ${runs:-?} executions in ${seconds}s, no crash")
done
printf '[fuzz] %s\n' "${summary[@]}"
