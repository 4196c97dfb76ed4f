#!/usr/bin/env bash
# Builds what weld's benchmark needs and runs it:
#
#   release weld, weld-bench and native-add   (cargo build --release)
#   target/components/add.wasm                 (scripts/build-components.sh)
#
# then prints a table of weld's figures next to those of native-add, an rmcp
# server answering the same tool without WebAssembly, measured in the same
# run. The machine is shared and noisy: read the ratios, not the absolutes.
# All traffic is on 127.0.0.1; every loop is bounded and the run stops by
# itself (typically in under a minute; hard limit 10 minutes).
#
# Usage: scripts/bench.sh [weld-bench options]     (from any directory)
#        scripts/bench.sh --quick                  (smoke test, a few seconds)
#        scripts/bench.sh --help                   (all options)
# See docs/PERFORMANCE.md for what each figure means.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

target_dir="${CARGO_TARGET_DIR:-$repo/target}"

cargo build --release -p weld -p weld-bench
WELD_BIN="$target_dir/release/weld" scripts/build-components.sh >/dev/null

# weld's default logging (one info line per call, to stderr) is part of
# what is measured; a WELD_LOG from the caller's shell would change it.
unset WELD_LOG

exec timeout --kill-after=10 600 "$target_dir/release/weld-bench" \
  --weld "$target_dir/release/weld" \
  --native "$target_dir/release/native-add" \
  --component "$repo/target/components/add.wasm" \
  "$@"
