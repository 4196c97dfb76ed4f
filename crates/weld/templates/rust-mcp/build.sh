#!/usr/bin/env bash
# Builds {{name}}.wasm, an MCP server component (wasmcp's mcp-v20251125
# world). Needs Rust with the wasm32-wasip2 target
# (rustup target add wasm32-wasip2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{name_snake}}.wasm" {{name}}.wasm
