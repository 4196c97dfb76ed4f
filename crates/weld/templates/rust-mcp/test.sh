#!/usr/bin/env bash
# Checks {{name}}.wasm as weld sees it: what it offers (weld inspect --list
# asks the component), and its tool called through `weld call`, in a
# throwaway state directory. Run ./build.sh first. Set WELD to use a weld
# binary that is not on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export WELD_STATE_DIR="$tmp/state" WELD_CACHE_DIR="$tmp/cache"

check() {
  local what="$1" want="$2" got="$3"
  if ! grep -qF -- "$want" <<<"$got"; then
    echo "FAIL: $what: expected output containing $want, got:" >&2
    echo "$got" >&2
    exit 1
  fi
  echo "ok: $what"
}

offered="$("$weld" inspect --list {{name}}.wasm 2>&1)"
check "it is an MCP server component" "mcp-v20251125" "$offered"
check "it offers its tool" "greet" "$offered"
check "it offers its resource" "{{name}}://about" "$offered"
check "it offers its prompt" "introduce" "$offered"

check "greets by name" '"text": "Hello, Ada!"' \
  "$("$weld" call --component {{name}}.wasm greet '{"name": "Ada"}' 2>&1 || true)"
check "an empty name is a tool error" '"isError": true' \
  "$("$weld" call --component {{name}}.wasm greet '{"name": ""}' 2>&1 || true)"
