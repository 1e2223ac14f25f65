#!/bin/bash
# reports.sh - benchmark of DMARC aggregate reports off the mail path (make
# bench; not in make check): bench_reports puts MESSAGES messages of one
# UTC day over DOMAINS policy domains through the daemon's aggregator into a
# SQLite store (FLUSHES flushes, as the flush thread writes them), then
# `mxguard report --output-dir` builds and writes every report, the DMARC
# records (rua on each domain's own address: no external verification)
# served by a private unbound on 127.0.0.1.  Prints the figures of
# bench_reports, the time and CPU of the report run, the reports written
# and their size.  Fails only when a report is missing or a run fails.
#
# Usage: tests/bench/reports.sh BUILDDIR
# Environment: MESSAGES (1000000), DOMAINS (10000), FLUSHES (1440: one a
#   minute for a day), STORE (a PostgreSQL URI to use instead of SQLite),
#   RIG_KEEP=1.
set -u
BUILDDIR=$(cd "${1:?usage: reports.sh BUILDDIR}" && pwd)
TESTS_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
MXGUARD=${MXGUARD:-$BUILDDIR/mxguard}
BENCH=$BUILDDIR/tests/bench/bench_reports
UNBOUND_SERVER=${UNBOUND_SERVER:-/usr/sbin/unbound}
MESSAGES=${MESSAGES:-1000000}
DOMAINS=${DOMAINS:-10000}
FLUSHES=${FLUSHES:-1440}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init bench-reports
rig_need_exec bench_reports "$BENCH"
rig_need_exec mxguard "$MXGUARD"

# A day that ended two days ago: closed for the reporter.
DAY=$(( ($(date +%s) / 86400 - 2) * 86400 ))
NOW=$(( DAY + 2 * 86400 ))
ZONE=$RIG_TMP/zone.conf
awk -v n="$DOMAINS" 'BEGIN { for (i = 0; i < n; i++)
    printf "local-data: '\''_dmarc.d%d.bench.example. TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@d%d.bench.example\"'\''\n", i, i }' > "$ZONE"
rig_start_dns "$ZONE"

STORE=${STORE:-sqlite:$RIG_TMP/reports.db}
"$BENCH" "$STORE" "$MESSAGES" "$DOMAINS" "$FLUSHES" 10 "$DAY" || rig_die "bench_reports failed"

cat > "$RIG_TMP/mxguard.conf" <<EOF
dns = { upstream = "127.0.0.1@$RIG_DNS_PORT"; timeout_ms = 2000; };
reports = {
  store = "$STORE";
  org_name = "mxguard bench";
  email = "dmarc-reports@mx.bench.example";
  rate_limit = 0;
  max_recipients = 1;
};
EOF
OUT=$RIG_TMP/out
mkdir -p "$OUT"
TIMEFORMAT='%R %U %S'
{ time timeout 3600 "$MXGUARD" report -c "$RIG_TMP/mxguard.conf" --output-dir "$OUT" --now "$NOW" \
    > "$RIG_TMP/report.out" 2>&1; } 2> "$RIG_TMP/time" || { tail -5 "$RIG_TMP/report.out"; rig_die "mxguard report failed"; }
files=$(find "$OUT" -name '*.xml.gz' | wc -l)
bytes=$(find "$OUT" -name '*.xml.gz' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
tail -1 "$RIG_TMP/report.out" | sed 's/^/bench_reports: mxguard report: /'
read -r real ucpu scpu < "$RIG_TMP/time"
awk -v r="$real" -v u="$ucpu" -v s="$scpu" -v f="$files" -v b="$bytes" 'BEGIN {
    printf "bench_reports: mxguard report --output-dir: %d reports (%.1f MB gzip) in %.1f s (%.2f ms each), CPU user %.1f s, system %.1f s\n",
        f, b / 1e6, r, r * 1000 / (f ? f : 1), u, s }'
[ "$files" -eq "$DOMAINS" ] || rig_die "$files reports written, $DOMAINS expected"
exit 0
