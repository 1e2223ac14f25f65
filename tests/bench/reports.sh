#!/bin/bash
# reports.sh - benchmark of DMARC aggregate reports off the mail path (make
# bench; not in make check): bench_reports puts MESSAGES messages of one
# UTC day over DOMAINS policy domains through the daemon's aggregator into a
# SQLite store (FLUSHES flushes, as the flush thread writes them), then
# `mxguard report --output-dir` builds and writes every report, the DMARC
# records (rua on each domain's own address: no external verification)
# served by a private unbound on 127.0.0.1; then the same over a copy of
# the store as mail: each report piped to a sendmail that reads it and
# throws it away (the cost of building and handing over, not of an MTA).
# Prints the figures of bench_reports, the time and CPU of each report run,
# the reports written and their size.  Fails only when a report is missing
# or a run fails.
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
case $STORE in postgres*)
    command -v psql > /dev/null &&
        echo "bench_reports: store size $(psql -X -A -t "$STORE" -c "select pg_size_pretty(pg_database_size(current_database()))") (the database)" ;;
esac

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
# SQLite: a copy of the store for the mail run (closed: no WAL left)
case $STORE in sqlite:*) cp "${STORE#sqlite:}" "$RIG_TMP/reports-mail.db" ;; esac
cat > "$RIG_TMP/sendmail" <<'EOF'
#!/bin/sh
exec cat > /dev/null
EOF
chmod 0755 "$RIG_TMP/sendmail"

# run LABEL CONFIG [ARGS...]: one timed mxguard report run
run() {
    local label=$1 conf=$2 real ucpu scpu
    shift 2
    TIMEFORMAT='%R %U %S'
    { time timeout 3600 "$MXGUARD" report -c "$conf" --now "$NOW" "$@" > "$RIG_TMP/$label.out" 2>&1; } \
        2> "$RIG_TMP/$label.time" || { tail -5 "$RIG_TMP/$label.out"; rig_die "mxguard report ($label) failed"; }
    tail -1 "$RIG_TMP/$label.out" | sed "s/^/bench_reports: mxguard report ($label): /"
    read -r real ucpu scpu < "$RIG_TMP/$label.time"
    awk -v l="$label" -v r="$real" -v u="$ucpu" -v s="$scpu" -v d="$DOMAINS" 'BEGIN {
        printf "bench_reports: mxguard report (%s): %d reports in %.1f s (%.2f ms each), CPU user %.1f s, system %.1f s\n",
            l, d, r, r * 1000 / d, u, s }'
}

OUT=$RIG_TMP/out
mkdir -p "$OUT"
run output-dir "$RIG_TMP/mxguard.conf" --output-dir "$OUT"
files=$(find "$OUT" -name '*.xml.gz' | wc -l)
bytes=$(find "$OUT" -name '*.xml.gz' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "bench_reports: $files report files, $bytes bytes gzip'd in all"
[ "$files" -eq "$DOMAINS" ] || rig_die "$files reports written, $DOMAINS expected"

if [ -f "$RIG_TMP/reports-mail.db" ]; then
    sed -e "s|store = \".*\";|store = \"sqlite:$RIG_TMP/reports-mail.db\";|" \
        -e "s|rate_limit = 0;|rate_limit = 0; sendmail = \"$RIG_TMP/sendmail\";|" \
        "$RIG_TMP/mxguard.conf" > "$RIG_TMP/mxguard-mail.conf"
    run mail "$RIG_TMP/mxguard-mail.conf"
    grep -q "reports: $DOMAINS built, $DOMAINS sent, 0 failed" "$RIG_TMP/mail.out" ||
        rig_die "mail run: $(tail -1 "$RIG_TMP/mail.out")"
fi
exit 0
