#!/usr/bin/env bash
# Calls the tool through `weld call`, as an MCP client would call it, in a
# throwaway state directory. Run ./build.sh first. Set WELD to use a weld
# binary that is not on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export WELD_STATE_DIR="$tmp/state" WELD_CACHE_DIR="$tmp/cache"

expect() {
  local what="$1" arguments="$2" want="$3" got status=0
  # A generous compile limit: a Python or JavaScript component carries its
  # interpreter, and compiling it on a slow machine is not what is tested.
  got="$("$weld" call --compile-timeout 600 --component {{name}}.wasm {{name}}_greet "$arguments" 2>&1)" || status=$?
  if ! grep -qF -- "$want" <<<"$got"; then
    echo "FAIL: $what: expected output containing $want (exit status $status), got:" >&2
    echo "$got" >&2
    exit 1
  fi
  echo "ok: $what"
}

expect "greets by name" '{"name": "Ada"}' '"result": "Hello, Ada!"'
expect "an empty name is a tool error" '{"name": ""}' '"isError": true'
