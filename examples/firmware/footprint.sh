#!/usr/bin/env bash
# Flash and RAM of tickspan's part of a minimal firmware (default thumbv7m, opt-level "s", LTO).
# Builds four firmwares that differ only in tickspan (src/bin/footprint*.rs: none, recording,
# recording + the encoding drain, recording + the raw drain) and diffs their
# section sizes: flash = .vector_table + .text + .rodata + .data, RAM = .data + .bss + .uninit.
# Usage: [FEATURES=small-drain] examples/firmware/footprint.sh [opt-level [target]]
# (needs llvm-size; llvm-nm for the symbols)
set -euo pipefail
cd "$(dirname "$0")"
opt="${1:-s}"
target="${2:-thumbv7m-none-eabi}"
bins=(footprint_base footprint_record footprint footprint_raw)
CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" cargo build --quiet --release --target "$target" \
    --features "${FEATURES:-}" $(printf -- '--bin %s ' "${bins[@]}")
out="${CARGO_TARGET_DIR:-target}/$target/release"
size() {
    llvm-size -A "$out/$1" | awk '
        /^\.(vector_table|text|rodata)[ \t]/ { f += $2 }
        /^\.data[ \t]/                       { f += $2; r += $2 }
        /^\.(bss|uninit)[ \t]/               { r += $2 }
        END { print f, r }'
}
read -r f0 r0 < <(size footprint_base)
echo "$target, opt-level \"$opt\", features \"${FEATURES:-}\"; bytes   flash      RAM"
printf '%-44s %7d  %7d\n' "footprint_base (no tickspan)" "$f0" "$r0"
for b in footprint_record footprint footprint_raw; do
    read -r f r < <(size "$b")
    printf '%-44s %7d  %7d   tickspan: +%d flash, +%d RAM\n' "$b" "$f" "$r" $((f - f0)) $((r - r0))
done
slots=$(grep -oP 'TICKSPAN_RING_SLOTS = "\K[0-9]+' .cargo/config.toml)
ctxs=$(grep -oP 'TICKSPAN_CONTEXTS = "\K[0-9]+' .cargo/config.toml)
echo "rings: $ctxs × (16 B header + $slots × 16 B) = $((ctxs * (16 + slots * 16))) B of that RAM"
if command -v llvm-nm > /dev/null; then
    echo "largest tickspan symbols in footprint (the drain is inlined into main):"
    llvm-nm --size-sort -S -C "$out/footprint" \
        | grep -i -E 'tickspan|__cortex_m_rt_main|memcpy|memclr' | tail -12 \
        | while read -r _ sz kind name; do printf '  %6d  %s %s\n' "$((16#$sz))" "$kind" "$name"; done
fi
