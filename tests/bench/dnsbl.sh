#!/bin/bash
# dnsbl.sh - benchmark: N DNS lists per connection cost about one round-trip.
# Starts tests/bench/delayed_dns.py (answers after DELAY_MS, on 127.0.0.1,
# stops by itself after 60 s) and runs bench_dnsbl against it.
# Usage (from the build directory):
#   make tests/bench/bench_dnsbl && /path/to/tests/bench/dnsbl.sh ./tests/bench/bench_dnsbl [DELAY_MS] [LISTS] [CONNS]
# Not part of "make check": it prints figures, it does not pass or fail on time.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${1:?usage: dnsbl.sh BENCH_BINARY [DELAY_MS] [LISTS] [CONNECTIONS]}
DELAY=${2:-100}
LISTS=${3:-10}
CONNS=${4:-20}
OUT=$(mktemp)
python3 "$HERE/delayed_dns.py" "$DELAY" 60 > "$OUT" &
PID=$!
for _ in $(seq 50); do [ -s "$OUT" ] && break; sleep 0.1; done
PORT=$(head -1 "$OUT")
rm -f "$OUT"
[ -n "$PORT" ] || { echo "delayed_dns.py did not start" >&2; kill "$PID" 2>/dev/null; exit 1; }
echo "delayed DNS server on 127.0.0.1:$PORT, delay $DELAY ms"
timeout 120 "$BENCH" "$PORT" "$LISTS" "$CONNS"; st=$?
kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
exit $st
