#!/usr/bin/env bash
# Checks what scripts/dist.sh ships, on the dev build (the release build
# takes too long for every test run; the steps are the same): the binary
# has no debug sections left, still has its symbol table, links the
# separate debug file by name and checksum, and runs; the debug file holds
# the line tables.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$repo/target/dist-check"
rm -rf "$out"
shipped="$(WELD_BIN="$repo/target/debug/weld" WELD_DIST_DIR="$out" "$repo/scripts/dist.sh")"

fail() { echo "dist check: $*" >&2; exit 1; }
[ "$shipped" = "$out/weld" ] || fail "dist.sh printed '$shipped', not $out/weld"
sections() { readelf -S --wide "$1" 2>/dev/null | awk '$2 ~ /^\./ {print $2} $3 ~ /^\./ {print $3}'; }
# .debug_gdb_scripts is no debug info: it names rustc's pretty-printers.
debug="$(sections "$shipped" | grep '^\.debug_' | grep -vx '\.debug_gdb_scripts' || true)"
[ -z "$debug" ] || fail "the shipped binary still has debug sections: $(echo $debug)"
sections "$shipped" | grep -qx '\.symtab' || fail "the shipped binary lost its symbol table"
sections "$shipped" | grep -qx '\.gnu_debuglink' || fail "the shipped binary has no .gnu_debuglink"
link="$(readelf --string-dump=.gnu_debuglink "$shipped" | awk '/\]/ {print $3; exit}')"
[ "$link" = "weld.debug" ] || fail "the debug link names '$link', not weld.debug"
sections "$out/weld.debug" | grep -qx '\.debug_line' || fail "weld.debug holds no line tables"
# objcopy refuses to link a debug file whose CRC it cannot compute, and gdb
# checks it: recompute it here so a stale weld.debug beside a new binary
# is caught.
want="$(python3 - "$shipped" "$out/weld.debug" <<'PY'
import sys, zlib, subprocess
data = subprocess.run(["objcopy", "--dump-section", ".gnu_debuglink=/dev/stdout", sys.argv[1]],
                      capture_output=True, check=True).stdout
crc_stored = int.from_bytes(data[-4:], "little")
with open(sys.argv[2], "rb") as f:
    crc_file = zlib.crc32(f.read()) & 0xffffffff
print("ok" if crc_stored == crc_file else f"stored {crc_stored:08x} file {crc_file:08x}")
PY
)"
[ "$want" = ok ] || fail "the debug link's checksum does not match weld.debug: $want"
"$shipped" --version >/dev/null || fail "the shipped binary does not run"
before=$(stat -c %s "$repo/target/debug/weld")
after=$(stat -c %s "$shipped")
echo "dist check: passed (dev build $before bytes, shipped $after bytes, debug info in weld.debug)"
