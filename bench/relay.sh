#!/usr/bin/env bash
# `tickspan relay` measured (issue 11 §4): records/s in and spans/s out on one core, bytes per
# span on the wire (protobuf/JSON, gzip or not), peak memory with a collector 10x slower than
# the relay. The receiver is bench's otlp_sink (answers at once, or after a delay), so the
# relay is what is measured. Usage: bench/relay.sh [RECORDS] (default 2000000).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-2000000}
cargo build --release -q -p tickspan-cli --no-default-features
cargo build --release -q -p tickspan-bench --bin otlp_sink
tickspan=target/release/tickspan
dir=${TMPDIR:-/tmp}/tickspan-relay-bench
mkdir -p "$dir"
trace=$dir/gen-$records.tspn
[ -f "$trace" ] || "$tickspan" bench-gen "$trace" --records "$records" --force
sink_pid=
trap '[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true' EXIT

# run LABEL DELAY_MS RELAY-ARGS…: one relay of the trace into a fresh sink; prints a row.
run() {
  local label=$1 delay=$2
  shift 2
  target/release/otlp_sink "$delay" > "$dir/port" &
  sink_pid=$!
  until [ -s "$dir/port" ]; do sleep 0.05; done
  local port
  port=$(cat "$dir/port")
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$tickspan" relay "$trace" --every 0s \
    --endpoint "http://127.0.0.1:$port" "$@" 2> "$dir/err" || true
  local stats
  stats=$(curl -s "http://127.0.0.1:$port/stats")
  kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; sink_pid=
  rm -f "$dir/port"
  read -r wall user sys rss < <(tail -1 "$dir/time")
  read -r requests bytes <<< "$stats"
  local line queued sent dropped recs
  line=$(grep 'otlp: ' "$dir/err" | tail -1)
  queued=$(sed -E 's/.*otlp: ([0-9]+) spans? queued.*/\1/' <<< "$line")
  sent=$(sed -E 's/.* queued, ([0-9]+) sent .*/\1/' <<< "$line")
  dropped=$(sed -E 's/.*, ([0-9]+) dropped.*/\1/' <<< "$line")
  recs=$(sed -nE 's/.*relay: ([0-9]+) records in.*/\1/p' "$dir/err")
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v q="$queued" -v se="$sent" \
      -v d="$dropped" -v n="$recs" -v rq="$requests" -v b="$bytes" 'BEGIN {
    cpu = u + s
    printf "%-34s %7.2f s wall %6.2f s CPU  %9.0f rec/s CPU  %8.0f spans/s out  %6.1f B/span  %6.1f MiB RSS  %d queued %d sent %d dropped %d requests\n",
      l, w, cpu, n / cpu, se / w, (se > 0 ? b / se : 0), r / 1024, q, se, d, rq
  }'
  last_spans_per_s=$(awk -v se="$sent" -v w="$wall" 'BEGIN { printf "%d", se / w }')
}

echo "tickspan relay, $records records ($(nproc) cores, $(date -u +%F))"
run "protobuf + gzip (default)" 0 --when-full wait
base=$last_spans_per_s
run "protobuf, no compression" 0 --when-full wait --compression none
run "JSON + gzip" 0 --when-full wait --protocol http/json
run "JSON, no compression" 0 --when-full wait --protocol http/json --compression none
# A collector 10x slower: each 512-span request takes ten times as long as the relay needs
# to produce it.
delay=$(( 512 * 10 * 1000 / (base > 0 ? base : 1) ))
run "10x slower collector, --when-full drop" "$delay" --when-full drop
run "10x slower collector, --when-full wait" "$delay" --when-full wait
