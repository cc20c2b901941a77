#!/usr/bin/env bash
# Builds the demo firmware, runs it on QEMU's lm3s6965evb with UART0 captured into
# target/demo.tsp, then shows the call trees with the host CLI.
# Usage: examples/firmware/run.sh [tickspan view args...]   (default: tree)
# Needs qemu-system-arm and the thumbv7m-none-eabi target.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --release --bin demo
trace=target/demo.tsp
# -icount shift=3: deterministic virtual time (8 ns per instruction); the summary line comes
# from the firmware over semihosting.
qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic -monitor none \
    -semihosting-config enable=on,target=native -icount shift=3 \
    -serial "file:$trace" -kernel target/thumbv7m-none-eabi/release/demo 2> >(grep -v "Timer with period zero" >&2)
echo "UART0 capture: examples/firmware/$trace ($(wc -c < "$trace") bytes)"
# The CLI is a host program of the root workspace; unset the firmware's cargo config for it.
(cd ../.. && cargo run --quiet -p tickspan-cli -- "${@:-tree}" "examples/firmware/$trace")
