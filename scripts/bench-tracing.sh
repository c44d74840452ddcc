#!/usr/bin/env bash
# What tracing costs a call: GetSme and a ListSmes page of 50 with h2load
# (32 connections), against the release server on the benchmark database
# (scripts/bench.sh loads it) without --otlp-endpoint, and with it pointed
# at an OTLP sink (a gRPC server answering every Export at once, so the
# server builds, batches, encodes and sends every span as it would to a
# real collector). Rounds alternate off/on; prints each round and the
# medians, and the ratio on/off.
#
#   bash scripts/bench-tracing.sh          # BENCH_SECONDS (8), BENCH_ROUNDS (3)
#
# Every h2load request carries a sampled traceparent, so every call and
# statement is exported.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${PARTNERSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
url="$pg/partnership_bench"
seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-50073}
sink_port=$((port + 1))
command -v h2load >/dev/null || { echo "h2load is needed (apt-get install nghttp2-client)" >&2; exit 1; }
psql "$url" -tAc "SELECT 1 FROM smes LIMIT 1" >/dev/null 2>&1 ||
  { echo "no benchmark database at $url: run scripts/bench.sh first" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/partnership

venv=target/ci-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r clients/python/requirements.txt

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The sink: the OTLP trace service's Export, its request unread, answered
# with an empty ExportTraceServiceResponse; it counts the bytes it got.
cat >"$work/sink.py" <<'EOF'
import sys, time
from concurrent import futures
import grpc
received = [0, 0]
def export(request, context):
    received[0] += 1
    received[1] += len(request)
    return b""
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
    "opentelemetry.proto.collector.trace.v1.TraceService",
    {"Export": grpc.unary_unary_rpc_method_handler(export)}),))
server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
server.start()
try:
    while True:
        time.sleep(1)
        print(f"exports {received[0]} bytes {received[1]}", file=open(sys.argv[2], "w"), flush=True)
except KeyboardInterrupt:
    pass
EOF
"$venv/bin/python" "$work/sink.py" "$sink_port" "$work/sink.txt" &
pids+=($!)

# gRPC request bodies: GetSme of smes/s0000000, ListSmes page_size 50.
python3 - "$work" <<'EOF'
import struct, sys
def frame(msg): return b"\x00" + struct.pack(">I", len(msg)) + msg
name = b"smes/s0000000"
open(f"{sys.argv[1]}/get.bin", "wb").write(frame(b"\x0a" + bytes([len(name)]) + name))
open(f"{sys.argv[1]}/list.bin", "wb").write(frame(b"\x08\x32"))
EOF

serve() {
  "$bin" serve --listen "127.0.0.1:$port" --metrics-listen off --database-url "$url" "$@" \
    >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    grep -q "listening" "$work/server.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

rate() { # METHOD BODY
  h2load -t 1 -m 1 -c 32 -D "$seconds" -d "$2" \
    -H 'content-type: application/grpc' -H 'te: trailers' -H 'grpc-timeout: 10S' \
    -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
    "http://127.0.0.1:$port/partnership.v1.SmeService/$1" |
    awk '/^finished in/ {gsub(",", "", $4); print $4}'
}

declare -A results
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    if [ "$mode" = on ]; then
      OTEL_BSP_SCHEDULE_DELAY=1000 serve --otlp-endpoint "http://127.0.0.1:$sink_port"
    else
      serve
    fi
    get=$(rate GetSme "$work/get.bin")
    list=$(rate ListSmes "$work/list.bin")
    kill -TERM "$server"; wait "$server" || true
    echo "round $round, tracing $mode: GetSme $get/s, ListSmes $list pages/s"
    results[$mode.get]+="$get "
    results[$mode.list]+="$list "
  done
done
echo "sink: $(cat "$work/sink.txt" 2>/dev/null || echo nothing received)"

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "| call (h2load, 32 connections, traceparent sampled) | tracing off | tracing on (OTLP to a sink) | on / off |"
echo "|---|---|---|---|"
for what in get list; do
  off=$(echo "${results[off.$what]}" | median)
  on=$(echo "${results[on.$what]}" | median)
  label=$([ "$what" = get ] && echo "GetSme" || echo "ListSmes page of 50")
  printf '| %s | %.0f/s | %.0f/s | **%.2f×** |\n' "$label" "$off" "$on" "$(echo "$on / $off" | bc -l)"
done
