#!/usr/bin/env bash
# The benchmark of the query issue, in one command: builds release, loads the
# generated dataset (1,000 companies, 1,000,000 SMEs, 100,000 programs,
# 2,000,000 participations) into a PostgreSQL database of its own unless it
# is there already, checks with EXPLAIN that each benchmark query uses an
# index, starts the server on it, and runs the Rust load driver
# (benches/load.rs), which also runs pgbench as the anchor. Prints one table.
#
#   bash scripts/bench.sh                  # PARTNERSHIP_BENCH_PG to change the server
#   BENCH_SECONDS=10 BENCH_SMES=1000000 BENCH_ONLY=get,list bash scripts/bench.sh
#   BENCH_ONLY=crowd,soak BENCH_SOAK_SECONDS=600 BENCH_SOAK_RATE=100 bash scripts/bench.sh
#   BENCH_BIN=/tmp/old/partnership BENCH_ONLY=list,filter bash scripts/bench.sh
#
# After the throughput scenarios, against a server with its default flags:
# `crowd` (scripts/crowd.py, the pool-deadlock issue's table with the stock
# Python client) and `soak` (ten minutes of every kind of call with
# deadlines at a steady rate; errors by code, p50/p99 by method, the
# server's memory and connections at the start and the end).
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${PARTNERSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=partnership_bench
url="$pg/$db"
smes=${BENCH_SMES:-1000000}
seconds=${BENCH_SECONDS:-10}
port=${BENCH_PORT:-50061}

# BENCH_BIN runs another build of the server (e.g. an older commit's, to
# compare two builds on one dataset in one sitting); the load driver is
# always this checkout's.
cargo build --release --quiet
bin=${BENCH_BIN:-target/release/partnership}

if ! psql "$pg/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql "$pg/postgres" -qc "CREATE DATABASE $db"
fi
have=$(psql "$url" -tAc "SELECT count(*) FROM smes" 2>/dev/null || echo 0)
if [ "$have" != "$smes" ]; then
  echo "== loading the dataset ($smes SMEs)"
  psql "$pg/postgres" -qc "DROP DATABASE $db" -c "CREATE DATABASE $db"
  "$bin" generate --database-url "$url" --companies 1000 --smes "$smes" \
    --programs $((smes / 10)) --participations $((smes * 2))
fi

echo "== EXPLAIN: each benchmark query uses an index"
# explain NAME SQL [TABLES]: fails on a sequential scan of any of TABLES
# (a \| pattern; smes, programs and participations by default).
explain() {
  local plan tables=${3:-'smes\|programs\|participations'}
  plan=$(psql "$url" -tAc "EXPLAIN $2")
  if echo "$plan" | grep -q "Seq Scan on \($tables\)"; then
    echo "FAIL $1: a sequential scan"; echo "$plan"; exit 1
  fi
  echo "ok   $1: $(echo "$plan" | grep -o '\(Index Only Scan\|Index Scan\|Bitmap Index Scan\|Seq Scan\)[^(]*' | sed 's/ *$//' | head -3 | paste -sd';')"
}
explain GetSme "SELECT * FROM smes WHERE id = 's0123456'"
explain ListSmes "SELECT * FROM smes WHERE delete_time IS NULL ORDER BY create_time, id LIMIT 51"
explain "ListPrograms filtered" "SELECT * FROM programs WHERE delete_time IS NULL AND region = 'GYEONGGI' AND budget_krw >= 1000000000 AND budget_krw IS NOT NULL ORDER BY create_time, id LIMIT 51"
explain "ListParticipations of one SME" "SELECT * FROM participations WHERE delete_time IS NULL AND sme_id = 's0123456' ORDER BY create_time, program_id, id LIMIT 51"
explain "ListParticipations of one program" "SELECT * FROM participations WHERE delete_time IS NULL AND program_id = 'p0012345' ORDER BY create_time, program_id, id LIMIT 51"
explain "Search 3 characters" "SELECT * FROM smes WHERE delete_time IS NULL AND (search_name LIKE lower('%원정밀%') OR (replace(business_number, '-', '') LIKE '%원정밀%' AND business_number IS NOT NULL)) ORDER BY create_time, id LIMIT 51"
explain "Search digits" "SELECT * FROM smes WHERE delete_time IS NULL AND (search_name LIKE lower('%81123%') OR (replace(business_number, '-', '') LIKE '%81123%' AND business_number IS NOT NULL)) ORDER BY create_time, id LIMIT 51"
explain "ExportSmes batch after a cursor" "SELECT * FROM smes WHERE delete_time IS NULL AND (create_time, id) > ('2025-01-01T00:00:00Z', 's0500000') ORDER BY create_time, id LIMIT 1001"
# A question over every program reads all of `programs` by design; its 2,000,000
# participations must still be reached through an index.
explain "SummarizePrograms by kind, start_year" "SELECT programs.kind, CAST(EXTRACT(YEAR FROM programs.start_date) AS BIGINT), COUNT(DISTINCT participations.sme_id), CAST(COALESCE(SUM(participations.support_amount_krw), 0) AS BIGINT) FROM participations INNER JOIN programs ON programs.id = participations.program_id WHERE programs.delete_time IS NULL AND participations.delete_time IS NULL GROUP BY 1, 2 LIMIT 1001" 'smes\|participations'

echo "== server"
log=$(mktemp)
RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --metrics-listen off \
  --db-max-connections 16 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.2
done

only=${BENCH_ONLY:-}
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

loads=$(echo "$only" | tr ',' '\n' | grep -vx 'crowd\|soak' | paste -sd, || true)
if [ -z "$only" ] || [ -n "$loads" ]; then
  echo "== load ($seconds s per scenario; pgbench anchors in the same run)"
  cargo bench --quiet --bench load -- --addr "127.0.0.1:$port" --database-url "$url" \
    --server-pid "$server" --seconds "$seconds" --smes "$smes" --only "$loads"
fi

if wanted crowd || wanted soak; then
  # The crowd and the soak meet the server as an integrator does: its
  # default flags (a pool of 10), a deadline on every call.
  kill "$server"; wait "$server" 2>/dev/null || true
  RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --metrics-listen off \
    >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.2
  done
fi

if wanted crowd; then
  echo "== crowd: the stock Python client, 24 callers x 15 calls, 10 s deadlines, default flags"
  venv=target/ci-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r clients/python/requirements.txt
  "$venv/bin/python" scripts/crowd.py --addr "127.0.0.1:$port" --smes "$smes"
fi

if wanted soak; then
  echo "== soak: ${BENCH_SOAK_SECONDS:-600} s of the mix at ${BENCH_SOAK_RATE:-100} calls/s, default flags"
  cargo bench --quiet --bench load -- --addr "127.0.0.1:$port" --database-url "$url" \
    --server-pid "$server" --smes "$smes" --only soak \
    --soak-seconds "${BENCH_SOAK_SECONDS:-600}" --soak-rate "${BENCH_SOAK_RATE:-100}"
fi
