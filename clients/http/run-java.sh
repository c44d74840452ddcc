#!/usr/bin/env bash
# Runs JsonOverHttp.java (the JDK's HttpClient, no other jar) against a
# server of its own: $PARTNERSHIP_BIN (default target/debug/partnership) on a
# fresh SQLite file and a free port. Exits non-zero if the example fails.
#
#   PARTNERSHIP_BIN=target/debug/partnership bash clients/http/run-java.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${PARTNERSHIP_BIN:-$root/target/debug/partnership}
command -v java >/dev/null || { echo "java not found (apt-get install default-jdk-headless)" >&2; exit 1; }
[ -x "$bin" ] || { echo "no server binary at $bin (cargo build, or set PARTNERSHIP_BIN)" >&2; exit 1; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --listen "127.0.0.1:$port" --metrics-listen off --database-url "sqlite://$work/db.sqlite?mode=rwc" \
  >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  "$bin" health --addr "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.2
done
timeout 120 java "$here/JsonOverHttp.java" "http://127.0.0.1:$port"
