#!/usr/bin/env bash
# Builds the guest WebAssembly components that weld serves and tests against:
#
#   examples/{text,shapes,clock}        example tools      (workspace examples/)
#   tests/components/{add,hostile}      test-only tools    (workspace tests/components/)
#
# and collects them as
#
#   target/components/<name>.wasm       the component
#   target/components/<name>.wit/       a copy of the crate's wit/ directory
#
# Both guest workspaces build into one shared CARGO_TARGET_DIR (target/wasm)
# so their common dependencies (wit-bindgen) compile once. Re-running is cheap:
# cargo rebuilds only what changed. Needs rustup (or a toolchain that already
# has the wasm32-wasip2 target) and nothing else.
#
# Usage: scripts/build-components.sh        (from any directory)
# Environment:
#   WELD_BIN   path to a weld binary; when set, each component gets its WIT
#              documentation embedded (see embed_docs below).
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

target=wasm32-wasip2
export CARGO_TARGET_DIR="$repo/target/wasm"
out="$repo/target/components"

# name:crate-directory:cargo-package
components=(
  "text:examples/text:weld-example-text"
  "shapes:examples/shapes:weld-example-shapes"
  "clock:examples/clock:weld-example-clock"
  "add:tests/components/add:weld-test-add"
  "hostile:tests/components/hostile:weld-test-hostile"
)
workspaces=(examples tests/components)

ensure_target() {
  if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$target"; then
      rustup target add "$target"
    fi
  elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    echo "error: the $target Rust target is not installed and rustup is not available" >&2
    exit 1
  fi
}

# ---------------------------------------------------------------------------
# embed_docs NAME CRATE_DIR
#
# Hook for weld's WIT documentation embedding. A no-op unless WELD_BIN is set;
# then weld rewrites target/components/NAME.wasm in place so that it carries
# the doc comments (tool and parameter descriptions) from CRATE_DIR/wit.
# Runs after every copy, so it always starts from the freshly built component.
# ---------------------------------------------------------------------------
embed_docs() {
  local name="$1" crate="$2"
  if [ -z "${WELD_BIN:-}" ]; then
    return 0
  fi
  "$WELD_BIN" docs embed "target/components/$name.wasm" --wit "$crate/wit"
}

ensure_target

for ws in "${workspaces[@]}"; do
  cargo build --release --target "$target" --manifest-path "$ws/Cargo.toml" --workspace
done

mkdir -p "$out"
for entry in "${components[@]}"; do
  IFS=: read -r name crate package <<<"$entry"
  artifact="$CARGO_TARGET_DIR/$target/release/${package//-/_}.wasm"
  if [ ! -f "$artifact" ]; then
    echo "error: $artifact was not built" >&2
    exit 1
  fi
  # cp -p keeps cargo's modification time, so the copy looks changed only when
  # the component really was rebuilt.
  cp -p "$artifact" "$out/$name.wasm"
  rm -rf "$out/$name.wit"
  cp -R "$crate/wit" "$out/$name.wit"
  embed_docs "$name" "$crate"
  printf '%-8s %8d bytes  target/components/%s.wasm\n' \
    "$name" "$(wc -c <"$out/$name.wasm")" "$name"
done
