#!/usr/bin/env bash
# Builds the guest WebAssembly components that weld serves and tests against:
#
#   examples/{text,shapes,clock}        example tools      (workspace examples/)
#   examples/notes                      an MCP-world example: resources, a prompt, completion
#   tests/components/{add,hostile}      test-only tools    (workspace tests/components/)
#   tests/components/mcpdemo            an MCP-world component (wasmcp:mcp-v20251125)
#   tests/components/conformance        the MCP conformance suite's fixture server,
#                                       an MCP-world component
#   tests/components/mcp-stdio          an MCP server over stdio (rmcp, a wasi:cli command)
#   tests/components/wasmcp-rust-tools  wasmcp's Rust tools template, rendered and
#                                       built with its own command (its own workspace)
#   tests/components/wasmcp-python-tools  wasmcp's Python tools template, built with
#                                       its Makefile's componentize-py commands
#   examples/python-text                pytext  (Python, componentize-py)
#   examples/js-text                    jstext  (JavaScript, componentize-js)
#   examples/c-{text,files,sign}        ctext, cfiles, csign (C, clang + wasi-libc)
#
# and collects them as
#
#   target/components/<name>.wasm       the component
#   target/components/<name>.wit/       a copy of the crate's wit/ directory
#   target/components/<name>.policy.yaml the policy it proposes, if it has one
#                                       (`weld add` offers it)
#
# Both guest workspaces build into one shared CARGO_TARGET_DIR (target/wasm)
# so their common dependencies (wit-bindgen) compile once. Re-running is cheap:
# cargo rebuilds only what changed. Needs rustup (or a toolchain that already
# has the wasm32-wasip2 target); the Python, JavaScript and C toolchains are
# installed under target/toolchains by scripts/toolchains.sh (called here),
# and those examples are rebuilt only when a file of theirs changed.
#
# Usage: scripts/build-components.sh        (from any directory)
# Environment:
#   WELD_BIN   path to a weld binary; when set, each component gets its WIT
#              documentation embedded (see embed_docs below).
#   WELD_LANGUAGES  which of the other languages' tools to build, of
#              "py js c" (the default); empty builds only the Rust ones and
#              installs no toolchain (e.g. for a quick start).
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
  "notes:examples/notes:weld-example-notes"
  "add:tests/components/add:weld-test-add"
  "hostile:tests/components/hostile:weld-test-hostile"
  "mcpdemo:tests/components/mcpdemo:weld-test-mcpdemo"
  "conformance:tests/components/conformance:weld-test-conformance"
  "mcp-stdio:tests/components/mcp-stdio:weld-test-mcp-stdio"
  "wasmcp-rust-tools:tests/components/wasmcp-rust-tools:wasmcp_rust_tools"
)
# wasmcp's template is a workspace of its own (its Cargo.toml says so), as
# `wasmcp new` renders it; built with its Makefile's command.
workspaces=(examples tests/components tests/components/wasmcp-rust-tools)

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
  if [ ! -d "$crate/wit" ]; then
    # A command (mcp-stdio): its world is wasi:cli's, it has no WIT or docs of its own.
    printf '%-8s %8d bytes  target/components/%s.wasm\n' \
      "$name" "$(wc -c <"$out/$name.wasm")" "$name"
    continue
  fi
  rm -rf "$out/$name.wit"
  cp -R "$crate/wit" "$out/$name.wit"
  if [ -f "$crate/$name.policy.yaml" ]; then
    cp "$crate/$name.policy.yaml" "$out/$name.policy.yaml"
  fi
  # Another project's component is served as its toolchain built it.
  case "$name" in wasmcp-*) ;; *) embed_docs "$name" "$crate" ;; esac
  printf '%-8s %8d bytes  target/components/%s.wasm\n' \
    "$name" "$(wc -c <"$out/$name.wasm")" "$name"
done

# ---------------------------------------------------------------------------
# Tools in other languages, each built by its own toolchain into
# target/components/NAME.wasm, with its WIT beside it and its policy proposal
# as NAME.policy.yaml (which `weld add` reads).
# ---------------------------------------------------------------------------
languages="${WELD_LANGUAGES-py js c}"
if [ -n "$languages" ]; then
  # shellcheck disable=SC2086 # a list of words
  scripts/toolchains.sh $languages
fi
tools="$repo/target/toolchains"
gen="$repo/target/lang-gen"

# up_to_date NAME DIR: the component is newer than every file of DIR.
up_to_date() {
  local wasm="$out/$1.wasm"
  [ -f "$wasm" ] && [ -z "$(find "$2" -newer "$wasm" -not -path "*/__pycache__*" -print -quit)" ]
}

# finish NAME DIR: the WIT and the policy beside the component, docs embedded
# (not into another project's component: it is served as its toolchain built it).
finish() {
  local name="$1" dir="$2"
  rm -rf "$out/$name.wit"
  cp -R "$dir/wit" "$out/$name.wit"
  if [ -f "$dir/$name.policy.yaml" ]; then
    cp "$dir/$name.policy.yaml" "$out/$name.policy.yaml"
  fi
  case "$name" in wasmcp-*) ;; *) embed_docs "$name" "$dir" ;; esac
  printf '%-8s %8d bytes  target/components/%s.wasm\n' \
    "$name" "$(wc -c <"$out/$name.wasm")" "$name"
}

build_py() { # NAME DIR WORLD
  "$tools/py/bin/componentize-py" -d "$2/wit" -w "$3" componentize -p "$2" app \
    -o "$out/$1.wasm" >/dev/null
}

# wasmcp's Python template, built by the two commands of its Makefile, in a
# copy (its `bindings` step writes into the project directory).
build_py_template() { # NAME DIR WORLD
  local work="$gen/$1"
  rm -rf "$work"
  mkdir -p "$gen"
  cp -R "$2" "$work"
  (
    cd "$work"
    "$tools/py/bin/componentize-py" --wit-path wit --world "$3" bindings . >/dev/null
    "$tools/py/bin/componentize-py" --wit-path wit --world "$3" componentize app \
      -o "$out/$1.wasm" >/dev/null
  )
}

# Every WASI feature off: these tools compute on their arguments only, so the
# component imports nothing (in particular not wasi:config/store).
build_js() { # NAME DIR WORLD
  "$tools/js/node_modules/.bin/componentize-js" "$2/$1.js" --wit "$2/wit" --world-name "$3" \
    --disable stdio random clocks http fetch-event -o "$out/$1.wasm" >/dev/null
}

# Debian's wasi-libc targets wasm32-wasi (preview 1); wasm-component-ld links
# the core module and adapts its preview 1 imports to WASI 0.2, making a
# wasm32-wasip2 component.
build_c() { # NAME DIR WORLD
  local bindings="$gen/$1"
  rm -rf "$bindings"
  "$tools/c/bin/wit-bindgen" c "$2/wit" --world "$3" --out-dir "$bindings" >/dev/null
  # Compile, then link without -O: clang 19 runs any wasm-opt on PATH on
  # an optimised link's output, and wasm-opt cannot read a component.
  clang-19 --target=wasm32-wasi -O2 -Wall -Werror -I"$bindings" -c "$2/$1.c" -o "$bindings/tool.o"
  clang-19 --target=wasm32-wasi -O2 -I"$bindings" -c "$bindings/${3//-/_}.c" -o "$bindings/bindings.o"
  clang-19 --target=wasm32-wasi -mexec-model=reactor -fuse-ld="$tools/c/bin/wasm-component-ld" \
    "$bindings/tool.o" "$bindings/bindings.o" "$bindings/${3//-/_}_component_type.o" \
    -o "$out/$1.wasm"
}

# name:directory:world:language
lang_components=(
  "pytext:examples/python-text:pytext:py"
  "jstext:examples/js-text:jstext:js"
  "ctext:examples/c-text:ctext:c"
  "cfiles:examples/c-files:cfiles:c"
  "csign:examples/c-sign:csign:c"
  # A test guest: reads wasi:config/store (imported by its WIT).
  "jsconfig:tests/components/jsconfig:jsconfig:js"
  # Another project's template (wasmcp), built as its Makefile builds it.
  "wasmcp-python-tools:tests/components/wasmcp-python-tools:wasmcp-python-tools:py"
)
for entry in "${lang_components[@]}"; do
  IFS=: read -r name dir world language <<<"$entry"
  case " $languages " in *" $language "*) ;; *) continue ;; esac
  builder="build_$language"
  case "$name" in wasmcp-*) builder="build_${language}_template" ;; esac
  if ! up_to_date "$name" "$dir"; then
    echo "building $name from $dir" >&2
    "$builder" "$name" "$dir" "$world"
  fi
  finish "$name" "$dir"
done
