#!/usr/bin/env bash
# Instructions per tickspan record on a Cortex-M3 under QEMU (lm3s6965evb, -icount shift=3).
# Usage: [FEATURES=small-drain] examples/firmware/icount.sh [opt-level ...]   (default: s, the firmware's profile)
# Needs qemu-system-arm and the thumbv7m-none-eabi target.
set -euo pipefail
cd "$(dirname "$0")"
levels=("${@:-s}")
for opt in "${levels[@]}"; do
    echo "== opt-level \"$opt\""
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" cargo build --quiet --release --features "${FEATURES:-}" --bin icount
    # The QEMU runner line lives in .cargo/config.toml; the binary prints through semihosting.
    qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic -monitor none \
        -semihosting-config enable=on,target=native -icount shift=3 -serial null \
        -kernel "${CARGO_TARGET_DIR:-target}"/thumbv7m-none-eabi/release/icount 2> >(grep -v "Timer with period zero" >&2)
done
