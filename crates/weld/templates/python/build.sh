#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, with its WIT docs embedded.
# Needs componentize-py (pip install componentize-py) and weld (set WELD to
# use one that is not on PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"
if ! command -v componentize-py >/dev/null 2>&1; then
  echo "error: componentize-py is not on PATH; install it with: pip install componentize-py" >&2
  exit 1
fi
componentize-py -d wit -w {{name}} componentize app -o {{name}}.wasm
"$weld" docs embed {{name}}.wasm --wit wit
