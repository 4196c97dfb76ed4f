#!/usr/bin/env bash
# Runs every test: the Rust unit, property and integration tests (real
# components built from source, the rmcp client over real pipes and
# sockets), then the official Python MCP SDK against the built binary.
# Installs what it needs (the wasm32-wasip2 target, cargo-nextest if absent,
# Debian's docker-registry, htpasswd, openssl and skopeo for the distribution
# tests,
# a Python venv under target/). Safe to re-run; only changed parts rebuild.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

step() { printf '\n==> %s\n' "$*"; }

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# The distribution tests start a real OCI registry (CNCF Distribution, as
# Debian packages it) on loopback, one with htpasswd basic auth, and check
# signatures against openssl; the replica tests run haproxy.
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
# The replica tests put three weld serve behind haproxy (in /usr/sbin).
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
# The metrics tests have a real Prometheus scrape weld.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# One build of the whole workspace with its test features unified; it also
# builds target/debug/weld, which the component build and tests use.
step "building weld and the tests"
cargo nextest run --workspace --no-run

step "building the guest components (with their WIT docs embedded)"
WELD_BIN="$repo/target/debug/weld" scripts/build-components.sh

step "the shipped binary: debug info split off (scripts/dist.sh, on the dev build)"
tests/dist/check.sh

step "Rust tests"
cargo nextest run --workspace --no-fail-fast

step "Python MCP SDK tests"
WELD_BIN="$repo/target/debug/weld" tests/python/run.sh

step "MCP Inspector CLI and MCP conformance suite"
WELD_BIN="$repo/target/debug/weld" tests/js/run.sh
