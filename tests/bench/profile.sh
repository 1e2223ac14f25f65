#!/bin/bash
# profile.sh - where mxguard's time per message goes (not in make check):
# the corpus and DNS of run.sh, one mxguard on a unix socket behind a
# private Postfix (loadgen in SMTP mode with XCLIENT -> Postfix -> smtp-sink),
# a warm-up run, then COUNT messages at CONNS connections; prints mxguard's
# user and system CPU and its context switches (all threads) per message,
# and the whole machine's CPU per message (/proc/stat: Postfix, loadgen,
# smtp-sink and mxguard together) with mxguard and, on a second smtpd
# port, without a milter: what the milter costs Postfix besides itself.
# With STRACE=1 a second run under strace -c -f (syscalls per message);
# with PERF=FILE a third under perf record -g (cpu-clock) into FILE.
#
# Usage: tests/bench/profile.sh BUILDDIR      (as root: a private Postfix)
# Environment: MXGUARD (another binary to compare, e.g. an older build),
#   COUNT (1000), CONNS (20), CORPUS_N (500), REPORTS=1 (DMARC aggregate
#   reports recorded, SQLite), STRACE, PERF, PERF_CALLGRAPH
#   (perf's --call-graph: fp, or dwarf to see callers in libraries), IN_FLOW_DELAY,
#   RIG_KEEP=1.
# Prints figures; it never fails on a timing.
set -u
BUILDDIR=$(cd "${1:?usage: profile.sh BUILDDIR}" && pwd)
TESTS_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
HERE="$TESTS_SRCDIR/bench"
MXGUARD=${MXGUARD:-$BUILDDIR/mxguard}
LOADGEN=$BUILDDIR/tests/bench/loadgen
POSTFIX=${POSTFIX:-/usr/sbin/postfix}
UNBOUND_SERVER=${UNBOUND_SERVER:-/usr/sbin/unbound}
COUNT=${COUNT:-1000}
CONNS=${CONNS:-20}
CORPUS_N=${CORPUS_N:-500}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$HERE/benchlib.sh"
rig_init profile
rig_need_exec loadgen "$LOADGEN"
rig_need_exec mxguard "$MXGUARD"

CORPUS=$RIG_TMP/corpus
/usr/bin/python3 "$HERE/mkcorpus.py" "$CORPUS" "$CORPUS_N" 1 > "$RIG_TMP/corpus.log" || rig_die "mkcorpus.py failed"
rig_start_dns "$CORPUS/zone.conf"

bench_start_mxguard_unix
MX_PID=$MX_UNIX_PID
bench_start_postfix
PF_PORT=$(rig_free_port)
PF_NONE_PORT=$(rig_free_port)
cat >> "$RIG_PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd -o smtpd_milters=unix:$UNIX_SOCK
127.0.0.1:$PF_NONE_PORT inet n - n - - smtpd
EOF
"$POSTFIX" -c "$RIG_PF_CONF" reload > /dev/null 2>&1
rig_wait_for 20 _rig_tcp_open "$PF_PORT" || rig_die "Postfix did not listen on $PF_PORT"
rig_wait_for 20 _rig_tcp_open "$PF_NONE_PORT" || rig_die "Postfix did not listen on $PF_NONE_PORT"

send() { # COUNT [PORT]
    # -I: without a milter the corpus's verdicts are not expected
    timeout 600 "$LOADGEN" -c "$CONNS" -n "$1" -m "$CORPUS/manifest.tsv" -S "inet:${2:-$PF_PORT}@127.0.0.1" -X ${2:+-I}
}
busy() { # jiffies the whole machine spent busy (user nice system irq softirq steal)
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
flushcpu() { # jiffies of the DMARC report flush thread (mxg-flush), 0 without it
    local t
    for t in /proc/"$MX_PID"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = mxg-flush ] && { awk '{print $14 + $15}' "$t/stat"; return; }
    done
    echo 0
}
ctxsw() { # voluntary + involuntary, all threads
    cat /proc/"$MX_PID"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n + 0}'
}
send 200 > /dev/null 2>&1 || rig_die "warm-up run failed"

send 200 "$PF_NONE_PORT" > /dev/null 2>&1 || rig_die "warm-up run without milter failed"
tck=$(getconf CLK_TCK)
b0=$(busy)
send "$COUNT" "$PF_NONE_PORT" > /dev/null 2>&1 || rig_die "run without milter failed"
b1=$(busy)
read -r u0 s0 < <(awk '{print $14, $15}' /proc/"$MX_PID"/stat)
fl0=$(flushcpu)
c0=$(ctxsw)
out=$(send "$COUNT" 2>&1) || rig_die "loadgen failed: $out"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/"$MX_PID"/stat)
fl1=$(flushcpu)
c1=$(ctxsw)
b2=$(busy)
echo "$out" | sed 's/^/profile: /'
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v n="$COUNT" -v t="$tck" -v m="$MXGUARD" 'BEGIN {
    printf "profile: mxguard %s through Postfix, %d messages: user %.3f ms, system %.3f ms, total %.3f ms CPU per message; %.1f context switches per message\n",
        m, n, u * 1000 / t / n, s * 1000 / t / n, (u + s) * 1000 / t / n, c / n }'
awk -v a=$((b1 - b0)) -v b=$((b2 - b1)) -v u=$((u1 - u0 + s1 - s0)) -v n="$COUNT" -v t="$tck" 'BEGIN {
    printf "profile: whole machine CPU per message: %.3f ms without a milter, %.3f ms with mxguard (mxguard %.3f, the rest of the difference %.3f)\n",
        a * 1000 / t / n, b * 1000 / t / n, u * 1000 / t / n, (b - a - u) * 1000 / t / n }'

if [ -n "${REPORTS:-}" ]; then
    sleep 2 # one more flush
    awk -v f=$((fl1 - fl0)) -v n="$COUNT" -v t="$tck" 'BEGIN {
        printf "profile: DMARC report flush thread: %.4f ms CPU per message (within the total above)\n", f * 1000 / t / n }'
    echo "profile: DMARC report rows in the store: $(sqlite3 "$RIG_TMP/store/reports.db" \
        'select count(*) || " rows, " || coalesce(sum(count), 0) || " messages" from report_rows' 2>&1)"
fi
if [ -n "${STRACE:-}" ]; then
    strace -c -f -p "$MX_PID" -o "$RIG_TMP/strace.txt" 2>/dev/null &
    sp=$!
    sleep 1
    send "$COUNT" > /dev/null 2>&1
    kill -INT "$sp"; wait "$sp"
    echo "profile: syscalls per message (strace -c -f, $COUNT messages):"
    awk -v n="$COUNT" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { printf "profile:   %-16s %7.1f\n", $NF, $4 / n }' \
        "$RIG_TMP/strace.txt" | sort -k3 -rn | head -15
fi
if [ -n "${PERF:-}" ]; then
    perf record -e cpu-clock -F 4000 --call-graph "${PERF_CALLGRAPH:-fp}" -o "$PERF" -p "$MX_PID" > "$RIG_TMP/perf.log" 2>&1 &
    pp=$!
    sleep 1
    send "$COUNT" > /dev/null 2>&1
    kill -INT "$pp"; wait "$pp"
    echo "profile: perf data in $PERF (perf report -i $PERF --no-children --sort dso,sym)"
fi
exit 0
