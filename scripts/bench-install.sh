#!/usr/bin/env bash
# Install benchmark (docs/PERFORMANCE.md, "Install"): `weld add` of the large
# components the Python and JavaScript toolchains make (componentize-py's
# CPython, componentize-js's SpiderMonkey, 11-18 MB each), almost all of
# whose time is compiling. For each toolchain, a first component with the
# incremental compile cache cold (empty), then a second one from the same
# toolchain with it warm (the first one's compiled functions in it):
#
#   Python       pytext (examples/python-text), then a `weld new --lang python`
#                project built by the same componentize-py
#   JavaScript   jstext (examples/js-text), then a `weld new --lang js` project
#                built by the same componentize-js (the same WASI imports)
#   JavaScript   jstext, then jsconfig (tests/components/jsconfig), which also
#                imports wasi:config/store: two more imported functions move
#                Wasmtime's per-instance data, and with it the code of every
#                function that reaches it, so far less is shared
#
# The baseline, run in the same script on the same machine, is the same
# `weld add` with the incremental cache off (--incremental-cache-mib 0), each
# from an empty state and cache: what every install cost before. Reports
# medians of the wall-clock time and of the CPU time (weld and its compiler
# process, user + system: steadier than wall-clock time on a shared
# machine), the ratio of each to the baseline's, and the functions the
# compiler process reused and compiled for the warm install.
#
#   scripts/bench-install.sh [RUNS]     (default 3; uses target/release/weld)
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
weld="${WELD_BIN:-$repo/target/release/weld}"
components="$repo/target/components"
tools="$repo/target/toolchains"
[ -x "$weld" ] || (cd "$repo" && cargo build --release -p weld)
for name in pytext jstext jsconfig; do
  [ -f "$components/$name.wasm" ] || WELD_BIN="$weld" "$repo/scripts/build-components.sh"
done
[ -x "$tools/py/bin/componentize-py" ] && [ -x "$tools/js/node_modules/.bin/componentize-js" ] \
  || "$repo/scripts/toolchains.sh" py js

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME="$work/config" WELD_LOG="weld_runtime=info,error"

# The second components: new projects, as a person starts one, built by the
# same toolchains as the first.
(cd "$work" && "$weld" new pysecond --lang python >/dev/null && "$weld" new jssecond --lang js >/dev/null)
PATH="$tools/py/bin:$PATH" WELD="$weld" "$work/pysecond/build.sh" >/dev/null
PATH="$tools/js/node_modules/.bin:$PATH" WELD="$weld" "$work/jssecond/build.sh" >/dev/null

# add STATE CACHE FILE [FLAGS…]: `weld add`; "WALL_MS CPU_MS" on stdout
# (CPU: user + system of weld and the compiler process it waits for), its
# log in $work/add.log.
add() {
  local state="$1" cache="$2" file="$3"
  shift 3
  /usr/bin/time -o "$work/time" -f "%e %U %S" \
    "$weld" --state-dir "$state" --cache-dir "$cache" add --quiet "$file" "$@" \
    >/dev/null 2>"$work/add.log" </dev/null
  awk '{printf "%d %d", $1 * 1000, ($2 + $3) * 1000}' "$work/time"
}
# The functions reused and compiled, as the compiler process logged them.
reuse() { grep -o 'reused=[0-9]* compiled=[0-9]*' "$work/add.log" | tail -1 | tr -d 'a-z=' | tr ' ' '/'; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

# pair LABEL FIRST SECOND: one row per measurement, medians over $runs.
pair() {
  local label="$1" first="$2" second="$3" i s="$work/s" c="$work/c"
  : >"$work/rows"
  for i in $(seq "$runs"); do
    rm -rf "$s" "$c"
    local first_off second_off first_cold second_warm counts
    first_off=$(add "$s" "$c" "$first" --incremental-cache-mib 0)
    rm -rf "$s" "$c"
    second_off=$(add "$s" "$c" "$second" --incremental-cache-mib 0)
    rm -rf "$s" "$c"
    first_cold=$(add "$s" "$c" "$first")
    second_warm=$(add "$s" "$c" "$second")
    counts=$(reuse)
    # wall, CPU: first off, second off, first cold, second warm.
    echo "$first_off $second_off $first_cold $second_warm $counts" >>"$work/rows"
    echo "$label run $i: $(tail -1 "$work/rows")" >&2
  done
  col() { awk -v k="$1" '{print $k}' "$work/rows" | median; }
  local fo fo_cpu so so_cpu fc fc_cpu sw sw_cpu
  fo=$(col 1) fo_cpu=$(col 2) so=$(col 3) so_cpu=$(col 4)
  fc=$(col 5) fc_cpu=$(col 6) sw=$(col 7) sw_cpu=$(col 8)
  local counts
  counts=$(awk '{print $9}' "$work/rows" | tail -1)
  local reused="${counts%/*}" compiled="${counts#*/}"
  printf '| %s: first, `%s`, cache off (baseline) | %s | 1.00 | %s | 1.00 | |\n' \
    "$label" "$(basename "$first")" "$fo" "$fo_cpu"
  printf '| %s: first, cold (empty) cache | %s | %s | %s | %s | |\n' \
    "$label" "$fc" "$(ratio "$fc" "$fo")" "$fc_cpu" "$(ratio "$fc_cpu" "$fo_cpu")"
  printf '| %s: second, `%s`, cache off (baseline) | %s | 1.00 | %s | 1.00 | |\n' \
    "$label" "$(basename "$second")" "$so" "$so_cpu"
  printf '| %s: second, warm cache (after the first) | %s | %s | %s | %s | %s of %s functions reused |\n' \
    "$label" "$sw" "$(ratio "$sw" "$so")" "$sw_cpu" "$(ratio "$sw_cpu" "$so_cpu")" \
    "$reused" "$((reused + compiled))"
}

printf '| weld add | wall s (median) | ratio to cache off | CPU s (median) | ratio to cache off | incremental cache |\n'
printf '|---|---|---|---|---|---|\n'
pair "Python" "$components/pytext.wasm" "$work/pysecond/pysecond.wasm"
pair "JavaScript" "$components/jstext.wasm" "$work/jssecond/jssecond.wasm"
pair "JavaScript, other imports" "$components/jstext.wasm" "$components/jsconfig.wasm"
echo "(runs: $runs; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F))"
