#!/bin/bash
# reports-pg.sh - the fleet test of DMARC aggregate reports (RFC 9990): one
# real PostgreSQL (Debian's server binaries, a private cluster started by
# tests/lib/pgserver.sh in the test's directory on a unix socket, never the
# system cluster) and THREE mxguard daemons with store = that database,
# each the milter of its own smtpd of one private Postfix on 127.0.0.1.
#   - Three bounded streams at once, one per daemon, the same 24 kinds of
#     message on each (12 policy domains, each a DMARC pass and a p=reject
#     failure refused with 550): the three daemons add to the same rows at
#     the same time, every second (flush_interval = 1).
#   - The daemons stop (final flush).  Then two `mxguard report
#     --output-dir` runs started at the same time (different directories):
#     every report of the 12 policy domains is written exactly once across
#     the two, each valid against the RFC 9990 schema, and the counts in
#     them are exact: for every row key, the messages the three streams
#     sent with that outcome.  psql's sum over the store agrees.
#   - A third run finds nothing left.
# Prints the fleet's totals (messages per daemon, rows, reports).
# FLEET_STORE=sqlite runs the same test on one SQLite file that the three
# daemons share (tests/e2e/reports-sqlite.sh): one host with several
# daemons, WAL and the busy timeout instead of row locks.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance; the
# PostgreSQL server then runs as user postgres), xmllint, the postgresql
# server binaries.  RIG_KEEP=1 keeps the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$TESTS_SRCDIR/lib/reportlib.sh"
rig_init "reports-${FLEET_STORE:-pg}"
HERE="$TESTS_SRCDIR/e2e"
PGSERVER="$TESTS_SRCDIR/lib/pgserver.sh"
NDOM=12          # policy domains
PER_STREAM=144   # messages per daemon (6 of each of the 24 kinds)

FLEET_STORE=${FLEET_STORE:-postgresql}
rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rl_need_tools

# ---- the store: PostgreSQL, or one SQLite file ---------------------------------------
if [ "$FLEET_STORE" = sqlite ]; then
    SQLITE3=$(command -v sqlite3 || echo /usr/bin/sqlite3)
    rig_need_exec sqlite3 "$SQLITE3"
    mkdir -p "$RIG_TMP/store"
    [ "$(id -u)" -eq 0 ] && chown nobody "$RIG_TMP/store"
    URI="sqlite:$RIG_TMP/store/fleet.db"
    store_sql() { "$SQLITE3" "${URI#sqlite:}" "$1" 2>&1; }
else
    rig_need_exec pgserver.sh "$PGSERVER"
    rig_need_exec psql "$(command -v psql || echo /usr/bin/psql)"
    PGDIR="$RIG_TMP/pg"
    _pg_stop() { [ -d "$PGDIR/data" ] && sh "$PGSERVER" stop "$PGDIR"; return 0; }
    RIG_STOP_HOOKS="$RIG_STOP_HOOKS _pg_stop"
    URI=$(sh "$PGSERVER" start "$PGDIR") || rig_die "could not start the private PostgreSQL (see $PGDIR)"
    rig_log "PostgreSQL in $PGDIR: $URI"
    store_sql() { psql -X -A -t -q "$URI" -c "$1" 2>&1; }
fi

# ---- DNS: NDOM policy domains d01..d12.example, rua on their own domain --------
ZONE="$RIG_TMP/reports-pg-zone.conf"
{
    echo "local-data: 'mx.client.example. A 127.0.0.1'"
    for i in $(seq -w 1 $NDOM); do
        echo "local-data: 'd$i.example. TXT \"v=spf1 ip4:192.0.2.$((10#$i + 10)) -all\"'"
        echo "local-data: '_dmarc.d$i.example. TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@d$i.example\"'"
    done
} > "$ZONE"
rig_start_dns "$ZONE"
rig_start_sink

# ---- three daemons, one Postfix with three smtpd services -------------------------
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
{ DNS_PORT=$RIG_DNS_PORT; STORE=${URI//&/\\&}; FLUSH=1; MAX_ROWS=10000; SENDMAIL=/usr/sbin/sendmail; }
RIG_SUBST_VARS="SOCKET DNS_PORT STORE FLUSH MAX_ROWS SENDMAIL METRICS_PORT"
declare -a MX_PID MX_LOG MX_METRICS SMTP_PORT
for n in 1 2 3; do
    SOCKET="unix:$RIG_TMP/mx$n.sock"
    METRICS_PORT=$(rig_free_port)
    MX_METRICS[$n]=$METRICS_PORT
    rig_subst "$HERE/reports.conf.in" "$RIG_TMP/mx$n.conf"
    RIG_MX_LOGNAME="mxguard-$n.log" rig_start_mxguard "$RIG_TMP/mx$n.conf" "$RIG_TMP/mx$n.sock"
    MX_PID[$n]=$RIG_MX_PID
    MX_LOG[$n]=$RIG_MX_LOG
done
SMTP_PORT[2]=$(rig_free_port)
SMTP_PORT[3]=$(rig_free_port)
RIG_PF_MASTER_EXTRA="127.0.0.1:${SMTP_PORT[2]} inet n - n - - smtpd -o smtpd_milters=unix:$RIG_TMP/mx2.sock
127.0.0.1:${SMTP_PORT[3]} inet n - n - - smtpd -o smtpd_milters=unix:$RIG_TMP/mx3.sock"
rig_start_postfix "$RIG_TMP/mx1.sock"
SMTP_PORT[1]=$RIG_SMTP_PORT
for n in 2 3; do
    rig_wait_for 10 _rig_tcp_open "${SMTP_PORT[$n]}" || rig_die "smtpd on port ${SMTP_PORT[$n]} not listening"
done

# ---- the streams -------------------------------------------------------------------
# Kind pNN: from d NN's own address, SPF pass, DMARC pass (250); kind fNN:
# from 192.0.2.99 with dNN's From, DMARC fail, p=reject (550).
SPECS=()
for i in $(seq -w 1 $NDOM); do
    SPECS+=("p$i,192.0.2.$((10#$i + 10)),a@d$i.example,a@d$i.example,bob@dest.example")
    SPECS+=("f$i,192.0.2.99,x@spoofer.example,ceo@d$i.example,bob@dest.example")
done
T0=$(rig_now_ms)
T_START=$(date +%s)
for n in 1 2 3; do
    "$RL_PY" "$TESTS_SRCDIR/lib/reportstream.py" "${SMTP_PORT[$n]}" "$RIG_TMP/stream$n.out" "$PER_STREAM" 10 120 \
        "${SPECS[@]}" > "$RIG_TMP/stream$n.err" 2>&1 &
    SPID[$n]=$!
    rig_bg stream$n "${SPID[$n]}"
done
for n in 1 2 3; do wait "${SPID[$n]}"; done
T_END=$(date +%s)
rig_log "three streams of $PER_STREAM messages at once in $(( $(rig_now_ms) - T0 )) ms"
cat "$RIG_TMP"/stream[123].out > "$RIG_TMP/stream.out"
TOTAL=$((3 * PER_STREAM))
rig_eq "streams: $TOTAL messages sent" "$TOTAL" "$(wc -l < "$RIG_TMP/stream.out")"
rig_eq "streams: every pass 250, every failure 550 after the final dot" "$TOTAL" \
    "$(awk '($2 ~ /^p/ && $4 == 250 || $2 ~ /^f/ && $4 == 550) && $5 == "dot"' "$RIG_TMP/stream.out" | wc -l)"

# ---- stop the fleet (final flush) -------------------------------------------------
for n in 1 2 3; do
    rl_scrape "${MX_METRICS[$n]}"
    rig_eq "daemon $n: no flush error" 0 "$(rl_metric mxguard_report_flush_errors_total)"
    rig_eq "daemon $n: nothing dropped" 0 "$(rl_metric mxguard_report_messages_dropped_total)"
    rig_log "daemon $n: $(rl_metric mxguard_report_rows_flushed_total) rows flushed while the streams ran"
    RIG_MX_PID=${MX_PID[$n]} RIG_MX_LOG=${MX_LOG[$n]}
    rig_check "daemon $n exits 0 on SIGTERM (final flush)" rig_stop_mxguard
    rig_check_mxguard_log
    rig_eq "daemon $n: one decision line per message" "$PER_STREAM" \
        "$(grep -c 'mxguard: decision ' "${MX_LOG[$n]}")"
done

# ---- the totals in the database -----------------------------------------------------
# (report_rows(count) is the store's schema, policy/report/rstore.c.)
rig_eq "$FLEET_STORE: the sum of the counts in the store = messages sent" "$((3 * PER_STREAM))" \
    "$(store_sql "select coalesce(sum(count), 0) from report_rows")"
NPERIODS=$(( (T_END - T_END % 86400 - (T_START - T_START % 86400)) / 86400 + 1 ))
[ "$NPERIODS" -gt 1 ] ||
    rig_eq "$FLEET_STORE: $((2 * NDOM)) distinct rows (the three daemons' rows added up)" "$((2 * NDOM))" \
        "$(store_sql "select count(*) from report_rows")"

# ---- two report runs at once ----------------------------------------------------------
DAY1=$((T_END - T_END % 86400))
NOW=$((DAY1 + 86400 + 3600))
RCONF="$RIG_TMP/mx1.conf"
timeout 60 "$MXGUARD" report -c "$RCONF" --output-dir "$RIG_TMP/runA" --now "$NOW" > "$RIG_TMP/runA.out" 2>&1 &
PA=$!
timeout 60 "$MXGUARD" report -c "$RCONF" --output-dir "$RIG_TMP/runB" --now "$NOW" > "$RIG_TMP/runB.out" 2>&1 &
PB=$!
wait "$PA"; RA=$?
wait "$PB"; RB=$?
rig_eq "two report runs at once: both exit 0" "0 0" "$RA $RB"
FA=$(rl_files "$RIG_TMP/runA" 2>/dev/null)
FB=$(rl_files "$RIG_TMP/runB" 2>/dev/null)
ALL=$(printf '%s\n%s\n' "$FA" "$FB" | grep .)
NA=$(printf '%s\n' "$FA" | grep -c .)
NB=$(printf '%s\n' "$FB" | grep -c .)
rig_eq "two report runs at once: $((NDOM * NPERIODS)) reports in all" "$((NDOM * NPERIODS))" "$((NA + NB))"
rig_eq "two report runs at once: no report written twice" "" "$(printf '%s\n' "$ALL" | LC_ALL=C sort | uniq -d)"
rig_eq "two report runs at once: one destination per policy domain" \
    "$(for i in $(seq -w 1 $NDOM); do echo "dmarc@d$i.example"; done)" \
    "$(printf '%s\n' "$ALL" | cut -d/ -f1 | LC_ALL=C sort -u)"
rig_log "two report runs at once: $NA + $NB reports ($(grep -h '^reports:' "$RIG_TMP/runA.out" "$RIG_TMP/runB.out" | tr '\n' ';'))"

# Every file valid, and the counts exact per row key.
for f in $(printf '%s\n' "$ALL"); do
    [ -f "$RIG_TMP/runA/$f" ] && p="$RIG_TMP/runA/$f" || p="$RIG_TMP/runB/$f"
    pd=$(cut -d'!' -f2 <<< "${f##*/}")
    rl_check_file "$pd" "$p" "$pd"
done
# The rows the streams made: kind -> (source_ip, disposition, ...) count.
want=$(awk '$5 == "dot" && ($4 == 250 || $4 == 550) { n[$2]++ } END { for (k in n) print k, n[k] }' \
        "$RIG_TMP/stream.out" | while read -r k c; do
    i=${k#?}
    if [[ $k == p* ]]; then
        echo "$c|192.0.2.$((10#$i + 10))|pass||fail|pass|d$i.example|d$i.example||d$i.example/pass"
    else
        echo "$c|192.0.2.99|reject||fail|fail|d$i.example|spoofer.example||spoofer.example/none"
    fi
done | LC_ALL=C sort)
got=$(rl_rows "$RIG_TMP"/run[AB]/*/*)
if [ "$want" = "$got" ]; then
    rig_pass "fleet: the counts of all $(echo "$want" | wc -l) rows equal what the three streams sent"
else
    rig_fail "fleet: the counts differ from what was sent"
    diff <(echo "$want") <(echo "$got") | sed 's/^/#   /' | head -20
fi
SUM=$(awk -F'|' '{ s += $1 } END { print s + 0 }' <<< "$got")
rig_eq "fleet: messages in the reports = messages sent" "$TOTAL" "$SUM"

rl_report run3 -c "$RCONF" --output-dir "$RIG_TMP/runC" --now "$NOW"
rig_eq "third run: nothing left" "0:reports: 0 built, 0 sent, 0 failed, 0 skipped" "$RL_RC:$RL_SUMMARY"

echo "# fleet totals ($FLEET_STORE): 3 daemons, $TOTAL messages ($(for n in 1 2 3; do printf '%s ' "$(wc -l < "$RIG_TMP/stream$n.out")"; done)per daemon)," \
    "$(echo "$got" | grep -c .) rows, $((NA + NB)) reports, $SUM messages counted in them"
if [ "$RIG_FAILS" -ne 0 ]; then
    for n in runA runB run3; do [ -f "$RIG_TMP/$n.out" ] && { echo "# mxguard report ($n):"; rl_show "$n" 15; }; done
    for n in 1 2 3; do echo "# mxguard $n log:"; grep -v ' decision ' "${MX_LOG[$n]}" | tail -10 | sed 's/^/#   /'; done
    [ -n "${PGDIR:-}" ] && { echo "# PostgreSQL log:"; tail -10 "$PGDIR/server.log" 2>/dev/null | sed 's/^/#   /'; }
fi
rig_finish
