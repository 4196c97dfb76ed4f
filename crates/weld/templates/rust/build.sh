#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, with its WIT docs embedded.
# Needs Rust with the wasm32-wasip2 target (rustup target add wasm32-wasip2)
# and weld (set WELD to use one that is not on PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{name_snake}}.wasm" {{name}}.wasm
"$weld" docs embed {{name}}.wasm --wit wit
