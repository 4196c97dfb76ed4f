#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, with its WIT docs embedded.
# Needs:
#   - clang 19 or newer with the wasm32 target and wasi-libc
#     (Debian 12: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
#   - wit-bindgen (cargo install wit-bindgen-cli --no-default-features --features c)
#   - wasm-component-ld (cargo install wasm-component-ld; rustup's wasm32-wasip2
#     target ships one too, found below)
#   - weld (set WELD to use one that is not on PATH)
# CC and WASM_COMPONENT_LD override what is found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
weld="${WELD:-weld}"

find_tool() { # NAME CANDIDATES...: the first candidate on PATH, else an error
  local what="$1" candidate
  shift
  for candidate in "$@"; do
    if command -v "$candidate" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "error: $what not found (looked for: $*); see the top of build.sh" >&2
  return 1
}

cc="${CC:-$(find_tool clang clang-19 clang-20 clang)}"
wit_bindgen="$(find_tool wit-bindgen wit-bindgen)"
component_ld="${WASM_COMPONENT_LD:-}"
if [ -z "$component_ld" ]; then
  component_ld="$(command -v wasm-component-ld || true)"
fi
if [ -z "$component_ld" ] && command -v rustc >/dev/null 2>&1; then
  host="$(rustc -vV | sed -n 's/^host: //p')"
  candidate="$(rustc --print sysroot)/lib/rustlib/$host/bin/wasm-component-ld"
  if [ -x "$candidate" ]; then component_ld="$candidate"; fi
fi
if [ -z "$component_ld" ]; then
  echo "error: wasm-component-ld not found; cargo install wasm-component-ld" >&2
  exit 1
fi

rm -rf gen
"$wit_bindgen" c wit --world {{name}} --out-dir gen >/dev/null
# Debian's wasi-libc is WASI preview 1 (wasm32-wasi): wasm-component-ld links
# the core module (with clang's own wasm-ld) and adapts its imports to WASI
# 0.2, making a component. Compiling and linking are two steps because clang
# 19, linking with -O, runs any wasm-opt on PATH on the result, which fails
# on a component.
"$cc" --target=wasm32-wasi -O2 -Wall -Igen -c {{name}}.c -o gen/{{name_snake}}_tool.o
"$cc" --target=wasm32-wasi -O2 -Igen -c gen/{{name_snake}}.c -o gen/{{name_snake}}_bindings.o
"$cc" --target=wasm32-wasi -mexec-model=reactor -fuse-ld="$component_ld" \
  gen/{{name_snake}}_tool.o gen/{{name_snake}}_bindings.o gen/{{name_snake}}_component_type.o \
  -o {{name}}.wasm
"$weld" docs embed {{name}}.wasm --wit wit
