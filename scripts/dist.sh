#!/usr/bin/env bash
# Builds weld (release) and writes the binary to ship: target/dist/weld,
# without debug info (function names stay in its symbol table, so a panic's
# backtrace still names functions), and target/dist/weld.debug beside it,
# which holds the line tables and is linked from the binary by
# --add-gnu-debuglink (gdb, perf and addr2line find it when it sits beside
# the binary or under /usr/lib/debug). The release profile keeps line
# tables, which are most of the unstripped binary's size.
#
#   scripts/dist.sh            prints the shipped binary's path on stdout
#
# WELD_BIN (a binary already built: nothing is built) and WELD_DIST_DIR
# (default target/dist) let scripts/test.sh check the same steps on the
# dev build its tests run.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [ -n "${WELD_BIN:-}" ]; then
  built="$WELD_BIN"
else
  cargo build --release --locked -p weld >&2
  built="$repo/target/release/weld"
fi
out="${WELD_DIST_DIR:-$repo/target/dist}"
mkdir -p "$out"
# Written under temporary names and renamed, so an interrupted run never
# leaves a binary whose debug link names a file that does not match it.
objcopy --only-keep-debug "$built" "$out/.weld.debug.tmp"
chmod 0644 "$out/.weld.debug.tmp"
mv -f "$out/.weld.debug.tmp" "$out/weld.debug"
(cd "$out" && objcopy --strip-debug --add-gnu-debuglink=weld.debug \
  "$built" .weld.tmp)
chmod 0755 "$out/.weld.tmp"
mv -f "$out/.weld.tmp" "$out/weld"
echo "$out/weld"
