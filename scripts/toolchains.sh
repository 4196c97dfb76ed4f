#!/usr/bin/env bash
# Installs the toolchains that build the Python, JavaScript and C example
# tools, from their registries only, into target/toolchains/:
#
#   py/    a venv with componentize-py (PyPI)          -> py/bin/componentize-py
#   js/    jco and componentize-js (npm)               -> js/node_modules/.bin/componentize-js
#   c/     wit-bindgen's CLI, C generator only         -> c/bin/wit-bindgen
#          (crates.io), and a link to wasm-component-ld (rustup's copy from
#          the wasm32-wasip2 target, else crates.io)   -> c/bin/wasm-component-ld
#          plus Debian's clang-19, lld-19, wasi-libc and the wasm32 compiler
#          runtime, with apt-get, only those missing.
#
# Idempotent: each part is skipped when its pinned version is already there,
# so a second run takes about a second. Nothing is printed on stdout (the
# stdio transport's setup may call this); progress goes to stderr.
#
# Usage: scripts/toolchains.sh [py] [js] [c]     (default: all three)
set -euo pipefail
exec 3>&1 1>&2 # everything to stderr; fd 3 is the original stdout, unused

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
root="$repo/target/toolchains"

# Pinned versions: a change here reinstalls that part on the next run.
componentize_py=0.25.1
jco=1.35.0
componentize_js=0.23.0
wit_bindgen=0.63.0
debian_c_packages=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)

step() { printf '==> toolchains: %s\n' "$*" >&2; }
# timed WHAT COMMAND...: runs an install step (a no-op when already done)
# and says how long it took.
timed() {
  local what="$1" start=$SECONDS
  shift
  "$@"
  step "$what: ready ($((SECONDS - start)) s)"
}

install_py() {
  local venv="$root/py" stamp="$root/py/.installed"
  # A venv moved from elsewhere keeps its old paths and no longer runs:
  # installed means recorded *and* runnable.
  [ "$(cat "$stamp" 2>/dev/null)" = "componentize-py==$componentize_py" ] \
    && "$venv/bin/componentize-py" --version >/dev/null 2>&1 && return 0
  step "installing componentize-py $componentize_py from PyPI into $venv"
  # Debian's python3 makes venvs with pip only with python3-venv.
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$componentize_py"
  echo "componentize-py==$componentize_py" >"$stamp"
}

install_js() {
  local dir="$root/js" want="jco@$jco componentize-js@$componentize_js"
  [ "$(cat "$dir/.installed" 2>/dev/null)" = "$want" ] && return 0
  step "installing $want from npm into $dir"
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is not installed; install Node.js 20 or newer (Debian: apt-get install npm)" >&2
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "@bytecodealliance/jco@$jco" "@bytecodealliance/componentize-js@$componentize_js"
  echo "$want" >"$dir/.installed"
}

# apt-get install PACKAGES..., those not installed yet.
apt_install() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  step "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_wit_bindgen() {
  local bin="$root/c/bin/wit-bindgen"
  [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk '{print $2}')" = "$wit_bindgen" ] && return 0
  step "building wit-bindgen $wit_bindgen from crates.io (a few minutes, once)"
  # Only the C generator: the default features build eight languages'.
  CARGO_INCREMENTAL=0 cargo install --quiet --locked --force --no-default-features --features c \
    --root "$root/c" "wit-bindgen-cli@$wit_bindgen"
}

# wasm-component-ld links a core module and turns it into a component with
# the WASI adapter it carries. rustup's wasm32-wasip2 target (which the Rust
# examples need anyway) ships one; only without it is one built.
install_component_ld() {
  local link="$root/c/bin/wasm-component-ld" host candidate
  [ -x "$link" ] && return 0
  mkdir -p "$root/c/bin"
  host="$(rustc -vV | sed -n 's/^host: //p')"
  candidate="$(rustc --print sysroot)/lib/rustlib/$host/bin/wasm-component-ld"
  if [ -x "$candidate" ]; then
    ln -sf "$candidate" "$link"
  else
    CARGO_INCREMENTAL=0 cargo install --quiet --locked --root "$root/c" wasm-component-ld
  fi
}

parts=("$@")
((${#parts[@]})) || parts=(py js c)
mkdir -p "$root"
for part in "${parts[@]}"; do
  case "$part" in
    py) timed "componentize-py $componentize_py (PyPI)" install_py ;;
    js) timed "jco $jco and componentize-js $componentize_js (npm)" install_js ;;
    c)
      timed "clang-19, lld-19, wasi-libc (Debian)" apt_install "${debian_c_packages[@]}"
      timed "wit-bindgen $wit_bindgen, C generator (crates.io)" install_wit_bindgen
      timed "wasm-component-ld" install_component_ld
      ;;
    *)
      echo "error: unknown toolchain \`$part\` (known: py js c)" >&2
      exit 2
      ;;
  esac
done
