#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, with its WIT docs embedded.
# Needs componentize-js (npm install -g @bytecodealliance/componentize-js)
# and weld (set WELD to use one that is not on PATH).
#
# --disable drops the WASI features the tool does not use, so the component
# imports nothing it does not need (and asks for nothing in its policy).
# Remove a name from the list to use that feature (e.g. clocks for Date.now).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"
if ! command -v componentize-js >/dev/null 2>&1; then
  echo "error: componentize-js is not on PATH; install it with: npm install -g @bytecodealliance/componentize-js" >&2
  exit 1
fi
componentize-js {{name}}.js --wit wit --world-name {{name}} \
  --disable stdio random clocks http fetch-event -o {{name}}.wasm
"$weld" docs embed {{name}}.wasm --wit wit
