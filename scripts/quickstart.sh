#!/usr/bin/env bash
# Sets weld up from a fresh checkout and starts it with the example tools:
# installs the wasm32-wasip2 Rust target, builds weld (release, stripped into
# target/dist/weld with its debug info in target/dist/weld.debug) and the
# example components, installs the examples into weld's state directory, and
# serves them over Streamable HTTP on http://127.0.0.1:8808/mcp (or stdio
# with --stdio). Stop it with Ctrl-C.
set -euo pipefail

# With --stdio, stdout is the MCP channel from weld's first byte on: the
# setup's own output (cargo, the component builds, `weld add`) goes to
# stderr, so a client that starts this script parses nothing but JSON-RPC.
exec 3>&1 1>&2

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "==> building weld (release; shipped without debug info: scripts/dist.sh)"
weld="$(scripts/dist.sh)"

echo "==> building the example components"
# The Rust examples only: the Python, JavaScript and C toolchains take
# minutes to install (scripts/test.sh and examples/README.md use them).
WELD_LANGUAGES= WELD_BIN="$weld" scripts/build-components.sh

echo "==> installing the examples"
for name in text shapes clock; do
  "$weld" add "target/components/$name.wasm" --force
done

if [ "${1:-}" = "--stdio" ]; then
  echo "==> serving over stdio (weld speaks MCP on stdin/stdout)"
  exec "$weld" serve 1>&3 3>&-
fi
echo "==> serving MCP at http://127.0.0.1:8808/mcp (Ctrl-C stops it)"
exec "$weld" serve --http 127.0.0.1:8808 1>&3 3>&-
