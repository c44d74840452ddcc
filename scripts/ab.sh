#!/usr/bin/env bash
# Two builds of the server, side by side on the benchmark database: GetSme
# (one record) and ListSmes (the first page of 50), and with AB_CALLS=health
# the transport's floor (Health/Check), under h2load at 32
# connections, the builds alternating round by round, each call's rate with
# the CPU the server and its PostgreSQL backends spent per call (from
# /proc/PID/stat over the run). For a change to the read path: what it
# saves shows in the CPU per call even when the shared machine makes the
# rates noisy.
#
#   bash scripts/ab.sh /tmp/before/partnership target/release/partnership
#   AB_ROUNDS=5 AB_SECONDS=10 AB_CALLS=get,health AB_LOG=info bash scripts/ab.sh A B   # AB_LOG: RUST_LOG (warn)
#
# Needs the database `bash scripts/bench.sh` loads (partnership_bench,
# PARTNERSHIP_BENCH_PG for another server), h2load and psql.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_A BUILD_B" >&2; exit 2; }
pg=${PARTNERSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=${AB_DATABASE:-partnership_bench}
rounds=${AB_ROUNDS:-3}
seconds=${AB_SECONDS:-8}
calls=${AB_CALLS:-get,list}
port=${AB_PORT:-50062}
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

# The gRPC-framed request bodies: GetSme of the middle SME, ListSmes of 50.
python3 - "$work" "$(psql "$pg/$db" -tAc "SELECT id FROM smes ORDER BY id OFFSET (SELECT count(*) / 2 FROM smes) LIMIT 1")" <<'PY'
import struct, sys
work, sme = sys.argv[1], sys.argv[2].strip()
def frame(msg):
    return b"\x00" + struct.pack(">I", len(msg)) + msg
name = f"smes/{sme}".encode()
open(f"{work}/get", "wb").write(frame(b"\x0a" + bytes([len(name)]) + name))
open(f"{work}/list", "wb").write(frame(b"\x08\x32"))
open(f"{work}/health", "wb").write(frame(b""))
PY
declare -A method=([get]=GetSme [list]=ListSmes [health]=Check)
declare -A path=([get]=partnership.v1.SmeService/GetSme [list]=partnership.v1.SmeService/ListSmes
  [health]=grpc.health.v1.Health/Check)

backends() { psql "$pg/postgres" -tAc "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()"; }
ticks() { local sum=0 v; for p in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); sum=$((sum + v)); done; echo "$sum"; }

# run CALL: "rate server_us postgres_us" of one h2load run.
run() {
  local url="http://127.0.0.1:$port/${path[$1]}" args
  args=(-t 1 -m 1 -c 32 -d "$work/$1" -H 'content-type: application/grpc' -H 'te: trailers' -H 'grpc-timeout: 10S')
  h2load "${args[@]}" -D 1 "$url" >/dev/null # the pool opens its connections
  local pids s0 p0 out s1 p1 rate
  pids=$(backends)
  s0=$(ticks "$server"); p0=$(ticks $pids)
  out=$(h2load "${args[@]}" -D "$seconds" "$url")
  s1=$(ticks "$server"); p1=$(ticks $pids)
  if ! echo "$out" | grep -q " 0 4xx, 0 5xx"; then echo "h2load: calls failed" >&2; echo "$out" >&2; exit 1; fi
  rate=$(echo "$out" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
  python3 -c "r=$rate; t=100*r*$seconds; print('%.0f %.0f %.0f' % (r, ($s1-$s0)*1e6/t, ($p1-$p0)*1e6/t))"
}

echo "| round | build | call | calls/s | server CPU per call | PostgreSQL CPU per call |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  for build in A B; do
    bin=$1; [ "$build" = B ] && bin=$2
    RUST_LOG=${AB_LOG:-warn} "$bin" serve --database-url "$pg/$db" --listen "127.0.0.1:$port" \
      --metrics-listen off --db-max-connections 16 >"$work/log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.2; done
    for call in ${calls//,/ }; do
      read -r rate cpu pgcpu < <(run "$call")
      echo "| $round | $build | ${method[$call]} | $rate | $cpu µs | $pgcpu µs |"
    done
    kill "$server"; wait "$server" 2>/dev/null || true; server=
  done
done
