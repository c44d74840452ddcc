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
#   BENCH_SIZES="1000000 10000000" bash scripts/bench.sh   # the growth from 1M to 10M
#
# After the throughput scenarios, against a server with its default flags:
# `crowd` (scripts/crowd.py, the pool-deadlock issue's table with the stock
# Python client) and `soak` (ten minutes of every kind of call with
# deadlines at a steady rate; errors by code, p50/p99 by method, the
# server's memory and connections at the start and the end).
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${PARTNERSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
seconds=${BENCH_SECONDS:-10}
port=${BENCH_PORT:-50061}
# BENCH_SIZES="1000000 10000000" runs the same scenarios on each dataset
# size and prints how each per-call cost grew; BENCH_SMES is one size.
sizes=${BENCH_SIZES:-${BENCH_SMES:-1000000}}

# BENCH_BIN runs another build of the server (e.g. an older commit's, to
# compare two builds on one dataset in one sitting); the load driver is
# always this checkout's.
cargo build --release --quiet
bin=${BENCH_BIN:-target/release/partnership}

# h2load (nghttp2) is the second load tool beside the Rust driver, for the
# Get and page scenarios; installed here when it can be.
if ! command -v h2load >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q nghttp2-client >/dev/null 2>&1 || true
  fi
  command -v h2load >/dev/null || echo "(h2load not installed: its rows are left out; apt-get install nghttp2-client)"
fi

# The database of a size: partnership_bench for 1M SMEs, partnership_bench_N
# otherwise; loaded once (loading 10M takes about half an hour here).
database_of() { if [ "$1" = 1000000 ]; then echo partnership_bench; else echo "partnership_bench_$1"; fi; }

load_dataset() {
  local smes=$1 db url have
  db=$(database_of "$smes"); url="$pg/$db"
  if ! psql "$pg/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql "$pg/postgres" -qc "CREATE DATABASE $db"
  fi
  have=$(psql "$url" -tAc "SELECT count(*) FROM smes" 2>/dev/null || echo 0)
  if [ "$have" != "$smes" ]; then
    echo "== loading the dataset ($smes SMEs) into $db"
    psql "$pg/postgres" -qc "DROP DATABASE $db" -c "CREATE DATABASE $db"
    /usr/bin/time -f "loaded in %e s, peak memory of the loader %M KB" \
      "$bin" generate --database-url "$url" --companies 1000 --smes "$smes" \
      --programs $((smes / 10)) --participations $((smes * 2))
    psql "$url" -qc "VACUUM ANALYZE"
    psql "$pg/postgres" -tAc "SELECT 'database size: ' || pg_size_pretty(pg_database_size('$db'))"
  fi
}

# explain URL NAME SQL [TABLES]: fails on a sequential scan of any of TABLES
# (a \| pattern; smes, programs and participations by default).
explain() {
  local plan tables=${4:-'smes\|programs\|participations'}
  plan=$(psql "$1" -tAc "EXPLAIN $3")
  if echo "$plan" | grep -q "Seq Scan on \($tables\)"; then
    echo "FAIL $2: a sequential scan"; echo "$plan"; exit 1
  fi
  echo "ok   $2: $(echo "$plan" | grep -o '\(Index Only Scan\|Index Scan\|Bitmap Index Scan\|Seq Scan\)[^(]*' | sed 's/ *$//' | head -3 | paste -sd';')"
}

explain_all() {
  local url=$1
  echo "== EXPLAIN: each benchmark query uses an index"
  explain "$url" GetSme "SELECT * FROM smes WHERE id = 's0123456'"
  explain "$url" ListSmes "SELECT * FROM smes WHERE delete_time IS NULL ORDER BY create_time, id LIMIT 51"
  explain "$url" "ListPrograms filtered" "SELECT * FROM programs WHERE delete_time IS NULL AND region = 'GYEONGGI' AND budget_krw >= 1000000000 AND budget_krw IS NOT NULL ORDER BY create_time, id LIMIT 51"
  explain "$url" "ListParticipations of one SME" "SELECT * FROM participations WHERE delete_time IS NULL AND sme_id = 's0123456' ORDER BY create_time, program_id, id LIMIT 51"
  explain "$url" "ListParticipations of one program" "SELECT * FROM participations WHERE delete_time IS NULL AND program_id = 'p0012345' ORDER BY create_time, program_id, id LIMIT 51"
  explain "$url" "Search 3 characters" "SELECT * FROM smes WHERE delete_time IS NULL AND (search_name LIKE lower('%원정밀%') OR (replace(business_number, '-', '') LIKE '%원정밀%' AND business_number IS NOT NULL)) ORDER BY create_time, id LIMIT 51"
  explain "$url" "Search digits" "SELECT * FROM smes WHERE delete_time IS NULL AND (search_name LIKE lower('%81123%') OR (replace(business_number, '-', '') LIKE '%81123%' AND business_number IS NOT NULL)) ORDER BY create_time, id LIMIT 51"
  # A search matching too many to sort walks the default order's index,
  # which carries what a search tests: read alone, then the page by id.
  local walked="SET max_parallel_workers_per_gather = 0; SET enable_seqscan = off; SET enable_bitmapscan = off; EXPLAIN SELECT * FROM smes WHERE (id) IN (SELECT id FROM smes WHERE delete_time IS NULL AND (search_name || '') LIKE lower('%원정밀%') ORDER BY create_time, id LIMIT 51) ORDER BY create_time, id"
  if ! psql "$url" -tAc "$walked" | grep -q "Index Only Scan using ix_smes_create_time_id_searched"; then
    echo "FAIL Search walked: not an index-only scan"; psql "$url" -tAc "$walked"; exit 1
  fi
  echo "ok   Search walked: Index Only Scan using ix_smes_create_time_id_searched"
  explain "$url" "ExportSmes batch after a cursor" "SELECT * FROM smes WHERE delete_time IS NULL AND (create_time, id) > ('2025-01-01T00:00:00Z', 's0500000') ORDER BY create_time, id LIMIT 1001"
}

log=$(mktemp)
figures=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$log" "$figures"' EXIT

# start_server URL [FLAGS…]: the server on URL, once it answers health.
start_server() {
  local url=$1; shift
  RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --metrics-listen off \
    "$@" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && return
    sleep 0.2
  done
}

stop_server() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }

only=${BENCH_ONLY:-}
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
loads=$(echo "$only" | tr ',' '\n' | grep -vx 'crowd\|soak' | paste -sd, || true)

for smes in $sizes; do
  load_dataset "$smes"
  url="$pg/$(database_of "$smes")"
  smes_for_crowd=${smes_for_crowd:-$smes}
  # An existing dataset gets the migrations added since it was loaded.
  "$bin" migrate --database-url "$url" >/dev/null
  explain_all "$url"
  if [ -z "$only" ] || [ -n "$loads" ]; then
    echo "== server on $smes SMEs"
    start_server "$url" --db-max-connections 16
    echo "== load, $smes SMEs ($seconds s per scenario; pgbench anchors in the same run)"
    cargo bench --quiet --bench load -- --addr "127.0.0.1:$port" --database-url "$url" \
      --server-pid "$server" --seconds "$seconds" --smes "$smes" --only "$loads" \
      --figures "$figures/$smes"
    stop_server
  fi
done

set -- $sizes
if [ $# -gt 1 ]; then
  echo "== growth from $1 to ${!#} SMEs (median per-call cost of each scenario, the same scenarios and callers)"
  python3 - "$figures/$1" "$figures/${!#}" <<'PY'
import math, sys
def read(path):
    out = {}
    try:
        for line in open(path):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    except FileNotFoundError:
        pass
    return out
small, large = read(sys.argv[1]), read(sys.argv[2])
limits = {"get": 1.3, "page": 1.3, "deep page": 1.3, "filtered page": 1.3, "search": 2.0}
print("| scenario | smaller | larger | growth | target |")
print("|---|---|---|---|---|")
for key, limit in limits.items():
    a, b = small.get(key, math.nan), large.get(key, math.nan)
    growth = b / a if a else math.nan
    verdict = "not measured" if math.isnan(growth) else ("**hit**" if growth <= limit else "**miss**")
    print(f"| {key} | {a:.2f} ms | {b:.2f} ms | **{growth:.2}×** | ≤ {limit}× — {verdict} |")
PY
fi

url="$pg/$(database_of "$smes_for_crowd")"
if wanted crowd || wanted soak; then
  # The crowd and the soak meet the server as an integrator does: its
  # default flags (a pool of 10), a deadline on every call.
  start_server "$url"
fi

if wanted crowd; then
  echo "== crowd: the stock Python client, 24 callers x 15 calls, 10 s deadlines, default flags"
  venv=target/ci-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r clients/python/requirements.txt
  "$venv/bin/python" scripts/crowd.py --addr "127.0.0.1:$port" --smes "$smes_for_crowd"
fi

if wanted soak; then
  echo "== soak: ${BENCH_SOAK_SECONDS:-600} s of the mix at ${BENCH_SOAK_RATE:-100} calls/s, default flags"
  cargo bench --quiet --bench load -- --addr "127.0.0.1:$port" --database-url "$url" \
    --server-pid "$server" --smes "$smes_for_crowd" --only soak \
    --soak-seconds "${BENCH_SOAK_SECONDS:-600}" --soak-rate "${BENCH_SOAK_RATE:-100}"
fi
