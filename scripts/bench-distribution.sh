#!/usr/bin/env bash
# Distribution benchmark (docs/PERFORMANCE.md, "Distribution"): `weld add
# oci://…` of a small signed Rust tool from a local registry (Debian's
# docker-registry on loopback), end to end, cold (empty state and cache) and
# again for a digest already stored and compiled; `weld sync` of a lock
# naming 20 tools. The baseline, run in the same script on the same
# machine, is `weld add FILE` of the same component (no network, no
# signature). Reports medians and their ratio to the baseline.
#
#   scripts/bench-distribution.sh [RUNS]     (default 15; uses target/release/weld)
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-15}"
weld="${WELD_BIN:-$repo/target/release/weld}"
tool="$repo/target/components/text.wasm"
[ -x "$weld" ] || (cd "$repo" && cargo build --release -p weld)
[ -f "$tool" ] || WELD_BIN="$weld" "$repo/scripts/build-components.sh"
command -v docker-registry >/dev/null || { echo "needs docker-registry (apt-get install docker-registry)"; exit 1; }

work="$(mktemp -d)"
trap 'kill "$registry_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
log: {level: error}
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

export XDG_CONFIG_HOME="$work/config" WELD_LOG=error
mkdir -p "$XDG_CONFIG_HOME/weld"
"$weld" --state-dir "$work/pub-state" keygen -o "$work/pub" >/dev/null
cat >"$XDG_CONFIG_HOME/weld/weld.toml" <<EOF
[distribution]
insecure_registries = ["127.0.0.1:$port"]
[[trust]]
scope = "oci://127.0.0.1:$port/tools"
keys = ["$work/pub.pub"]
EOF
ref="oci://127.0.0.1:$port/tools/text:1"
"$weld" --state-dir "$work/pub-state" publish "$tool" "$ref" --key "$work/pub.key" >/dev/null

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f", m/1000}'; }

run() { # label, fresh-per-run?, command...
  local label="$1" fresh="$2"; shift 2
  for i in $(seq "$runs"); do
    if [ "$fresh" = cold ]; then rm -rf "$work/s" "$work/c"; fi
    rm -f "$XDG_CONFIG_HOME/weld/weld.lock"
    ms "$weld" --state-dir "$work/s" --cache-dir "$work/c" "$@" --name "t$i" --force
  done | median
}

base_cold=$(run "file, cold" cold add --quiet "$tool")
oci_cold=$(run "oci, cold" cold add --quiet "$ref")
rm -rf "$work/s" "$work/c"; "$weld" --state-dir "$work/s" --cache-dir "$work/c" add --quiet "$ref" >/dev/null
base_warm=$(run "file, same digest" warm add --quiet "$tool")
oci_warm=$(run "oci, same digest" warm add --quiet "$ref")

# A lock of 20 tools (the same signed digest under 20 names), synced into
# an empty state that shares the compile cache.
rm -rf "$work/s"
for i in $(seq 20); do "$weld" --state-dir "$work/s" --cache-dir "$work/c" add --quiet "$ref" --name "tool$i" >/dev/null; done
sync_ms=$(for i in $(seq 5); do rm -rf "$work/s2"; ms "$weld" --state-dir "$work/s2" --cache-dir "$work/c" sync --quiet "$XDG_CONFIG_HOME/weld/weld.lock"; done | median)

printf '| step | median ms | ratio to `weld add FILE` |\n|---|---|---|\n'
printf '| weld add FILE, cold (baseline) | %s | 1.00 |\n' "$base_cold"
printf '| weld add oci://…, cold (resolve, signature, pull, compile) | %s | %.2f |\n' "$oci_cold" "$(echo "$oci_cold / $base_cold" | bc -l)"
printf '| weld add FILE, digest stored and compiled (baseline) | %s | 1.00 |\n' "$base_warm"
printf '| weld add oci://…, digest stored and compiled | %s | %.2f |\n' "$oci_warm" "$(echo "$oci_warm / $base_warm" | bc -l)"
printf '| weld sync, 20 tools, warm compile cache | %s | |\n' "$sync_ms"
echo "(runs: $runs; $(nproc) cores; $(date -u +%F))"
