#!/usr/bin/env bash
# The journal's benchmark, in one command (issue 20's targets), each figure
# with its anchor from the same run:
#
# 1. Write cost: CreateSme then UpdateSme at 16 callers, on PostgreSQL and
#    SQLite, by this build and by BENCH_ANCHOR_BIN (a build of the commit
#    before the journal), in BENCH_ROUNDS (5) pairs run back to back; the
#    cost is the median of the pairs' ratios (the machine's load drifts
#    over minutes, a pair's two runs see the same).
# 2. Latency: a watcher following while 8 writers create at full speed:
#    commit-to-arrival p50/p99 on PostgreSQL and SQLite.
# 3. Replay: 1,000,000 journal entries read from the earliest by one
#    watcher, on PostgreSQL and SQLite, with the server's memory sampled.
#
#   BENCH_ANCHOR_BIN=/tmp/anchor/target/release/partnership bash scripts/bench-journal.sh
#   BENCH_SECONDS=10 BENCH_REPLAY=1000000 BENCH_ONLY=writes,latency,replay ...
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${PARTNERSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
seconds=${BENCH_SECONDS:-10}
replay_count=${BENCH_REPLAY:-1000000}
rounds=${BENCH_ROUNDS:-5}
port=${BENCH_PORT:-50071}
only=${BENCH_ONLY:-writes,latency,replay}
wanted() { [[ ",$only," == *",$1,"* ]]; }

cargo build --release --quiet
cargo bench --quiet --bench journal --no-run 2>/dev/null
bin=target/release/partnership
anchor=${BENCH_ANCHOR_BIN:-}
driver() { cargo bench --quiet --bench journal -- "$@"; }

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS partnership_journal_bench WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# fresh BACKEND: a new empty database; prints its URL.
fresh() {
  case $1 in
    postgres)
      psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS partnership_journal_bench WITH (FORCE)" >/dev/null
      psql "$pg/postgres" -qc "CREATE DATABASE partnership_journal_bench" >/dev/null
      echo "$pg/partnership_journal_bench" ;;
    sqlite)
      rm -f "$work"/bench.db*
      echo "sqlite://$work/bench.db?mode=rwc" ;;
  esac
}

# start BIN URL: serves URL with BIN in the background.
start() {
  RUST_LOG=warn "$1" serve --database-url "$2" --listen "127.0.0.1:$port" --metrics-listen off \
    --db-max-connections 16 >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 150); do
    "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "the server did not start:"; cat "$work/server.log"; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 1))" "$@"; }

if wanted writes; then
  if [ -z "$anchor" ]; then
    echo "BENCH_ANCHOR_BIN is not set: build the commit before the journal and point it there" >&2
    exit 1
  fi
  echo "== write cost: CreateSme, UpdateSme at 16 callers, ${seconds} s each; with the journal vs $anchor"
  echo "| database | call | without journal (median) | with journal (median) | cost: median of the pairs (each pair) |"
  echo "|---|---|---|---|---|"
  for backend in postgres sqlite; do
    declare -A runs=()
    for _ in $(seq 1 "$rounds"); do
      for which in anchor current; do
        b=$bin; [ "$which" = anchor ] && b=$anchor
        url=$(fresh "$backend"); start "$b" "$url"
        out=$(driver writes --addr "127.0.0.1:$port" --callers 16 --seconds "$seconds")
        stop
        runs[$which-create]+=" $(json "$out" create_per_s)"
        runs[$which-update]+=" $(json "$out" update_per_s)"
      done
    done
    for call in create update; do
      a=$(median ${runs[anchor-$call]}); c=$(median ${runs[current-$call]})
      costs=$(python3 -c "
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; c = [float(x) for x in sys.argv[2].split()]
pairs = [(1 - y / x) * 100 for x, y in zip(a, c)]
print(f'{statistics.median(pairs):.1f}% (' + ' '.join(f'{p:.0f}%' for p in pairs) + ')')" "${runs[anchor-$call]}" "${runs[current-$call]}")
      echo "| $backend | ${call^}Sme | $a/s | $c/s | $costs |"
    done
    unset runs
  done
fi

if wanted latency; then
  echo "== latency: one watcher, 8 writers creating at full speed, ${seconds} s"
  for backend in postgres sqlite; do
    url=$(fresh "$backend"); start "$bin" "$url"
    echo "$backend: $(driver latency --addr "127.0.0.1:$port" --writers 8 --seconds "$seconds")"
    stop
  done
fi

if wanted replay; then
  echo "== replay: $replay_count journal entries from the earliest, one watcher"
  for backend in postgres sqlite; do
    url=$(fresh "$backend"); start "$bin" "$url"
    # One real entry to copy.
    driver writes --addr "127.0.0.1:$port" --callers 1 --seconds 1 >/dev/null
    stop
    echo "$backend fill: $(driver fill --database-url "$url" --count "$replay_count")"
    start "$bin" "$url"
    echo "$backend: $(driver replay --addr "127.0.0.1:$port" --count "$replay_count" --server-pid "$server")"
    stop
  done
fi
