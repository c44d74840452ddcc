#!/usr/bin/env bash
# Reads off a standby, measured: a PostgreSQL primary and an asynchronous
# standby of it on this machine (their own clusters, temp directories, run
# as the postgres user), a generated dataset, and the same read load
# (h2load, JSON over HTTP/2: GetSme on one record, and a page of 50 SMEs)
# against the service on the primary alone, then with --database-read-url
# on the standby, alternating three rounds each. Prints reads/s and the
# ratio. Everything is stopped at the end.
#
#   BENCH_SMES=100000 BENCH_SECONDS=8 bash scripts/bench-replica.sh
#
# Needs root, PostgreSQL's binaries, h2load (nghttp2-client) and a release
# build (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
smes=${BENCH_SMES:-100000}
seconds=${BENCH_SECONDS:-8}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release --quiet
bin=$PWD/target/release/partnership

work=$(mktemp -d)
chown postgres:postgres "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
primary_port=$(free_port); standby_port=$(free_port); port=$(free_port)
as_pg() { runuser -u postgres -- "$@"; }
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$work/standby" -m immediate stop >/dev/null 2>&1 || true
  as_pg "$pgbin/pg_ctl" -D "$work/primary" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pg_start() { as_pg "$pgbin/pg_ctl" -D "$work/$1" -l "$work/$1.log" -w \
  -o "-p $2 -c listen_addresses=127.0.0.1 -k $work" start >/dev/null; }

echo "== a primary and an asynchronous standby"
as_pg "$pgbin/initdb" -A trust -U postgres -D "$work/primary" >/dev/null
pg_start primary "$primary_port"
as_pg "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -R -X stream -c fast -D "$work/standby"
pg_start standby "$standby_port"
primary=postgres://postgres@127.0.0.1:$primary_port/postgres
standby=postgres://postgres@127.0.0.1:$standby_port/postgres

echo "== $smes SMEs"
"$bin" generate --database-url "$primary" --companies 100 --smes "$smes" \
  --programs $((smes / 10)) --participations $((smes * 2)) >/dev/null
sleep 2

serve() {
  "$bin" --listen "127.0.0.1:$port" --metrics-listen off --database-url "$primary" "$@" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "the server did not start" >&2; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
rate() { h2load -t 1 -m 1 -c 32 -D "$seconds" "$1" | awk '/^finished in/ {gsub(",", "", $4); print $4} /^status codes:/ && ($7 + 0 != 0 || $9 + 0 != 0) {print "non-2xx answers" > "/dev/stderr"}'; }
id=$(printf 's%07d' $((smes / 2)))
get=http://127.0.0.1:$port/v1/smes/$id
page="http://127.0.0.1:$port/v1/smes?pageSize=50"
declare -a p_get p_page r_get r_page
for round in 1 2 3; do
  serve; p_get+=("$(rate "$get")"); p_page+=("$(rate "$page")"); stop
  serve --database-read-url "$standby"; r_get+=("$(rate "$get")"); r_page+=("$(rate "$page")"); stop
  echo "round $round: primary only get ${p_get[-1]}/s page ${p_page[-1]}/s; with the standby get ${r_get[-1]}/s page ${r_page[-1]}/s"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
pg=$(median "${p_get[@]}"); rg=$(median "${r_get[@]}"); pp=$(median "${p_page[@]}"); rp=$(median "${r_page[@]}")
echo "| read, 32 connections | primary only | primary + standby | ratio |"
echo "|---|---|---|---|"
echo "| GetSme (one record) | ${pg}/s | ${rg}/s | $(python3 -c "print(f'{$rg/$pg:.2f}x')") |"
echo "| ListSmes, page of 50 | ${pp}/s | ${rp}/s | $(python3 -c "print(f'{$rp/$pp:.2f}x')") |"
