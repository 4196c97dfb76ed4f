#!/usr/bin/env bash
# Runs the Python-client interoperability tests (official MCP Python SDK against weld).
# Needs the weld binary (cargo build; or set WELD_BIN) and the components
# (scripts/build-components.sh). Extra arguments go to pytest, e.g. -k http or -x.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/target/py-venv"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi

# Install only when requirements.txt changed since the last successful install.
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi

cd "$repo"
# Keep the source tree clean: no __pycache__ next to the tests, no .pytest_cache in the repo.
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest "$here" -q -p no:cacheprovider "$@"
