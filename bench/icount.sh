#!/usr/bin/env bash
# Instructions per span enter+exit (the floor, tickspan, and tracing with the minimal ring
# subscriber), counted by callgrind.
# Usage: bench/icount.sh   (from the workspace root; CARGO_TARGET_DIR is honoured)
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p tickspan-bench --bin icount
out="$(mktemp)"
valgrind --tool=callgrind --callgrind-out-file="$out" "$target/release/icount" >/dev/null 2>&1
flat=1024 nested=1536   # FLAT_BATCH, 3 * NESTED_BATCH
callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
  awk -v flat=$flat -v nested=$nested '
    /icount::(floor|tickspan|tracing_ring)_(flat|nested)/ {
      ir = $1; gsub(",", "", ir)
      match($0, /icount::[a-z_]+/); name = substr($0, RSTART + 8, RLENGTH - 8)
      n = (name ~ /nested/) ? nested : flat
      if (seen[name]++) next
      printf "%-16s %8d instructions, %6.2f per span enter+exit\n", name, ir, ir / n
    }' | sort
rm -f "$out"
