#!/bin/bash
# soak.sh - a soak run (not in make check): TOTAL messages (default 100000)
# with tests/bench/loadgen straight at mxguard over its unix socket (the
# corpus of mkcorpus.py: SPF, DKIM, DMARC and 4 DNS lists, its DNS data on a
# private unbound on 127.0.0.1, tests/bench/mxguard.conf.in), in chunks of
# STEP messages (default 5000); after each chunk mxguard's open descriptors
# (/proc/PID/fd) and resident memory (VmRSS) are sampled.  Prints one table
# row per sample, then first/last/max of each and the growth from the first
# sample after warm-up (the first chunk) to the last.  Every loadgen run is
# bounded (600 s) and must give every message a final reply that matches
# the corpus; the script stops what it started.
#
# Usage: nice tests/bench/soak.sh BUILDDIR      (as root; about 10 minutes
#        on 2 cores)
# Environment: TOTAL, STEP, CONNS (8), CORPUS_N (200), RIG_KEEP=1.
# Exit 0 when every chunk succeeded, 1 otherwise; it never fails on growth
# (it prints it: judge by the table).
set -u
BUILDDIR=$(cd "${1:?usage: soak.sh BUILDDIR}" && pwd)
TESTS_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
HERE="$TESTS_SRCDIR/bench"
MXGUARD=${MXGUARD:-$BUILDDIR/mxguard}
LOADGEN=$BUILDDIR/tests/bench/loadgen
UNBOUND_SERVER=${UNBOUND_SERVER:-/usr/sbin/unbound}
TOTAL=${TOTAL:-100000}
STEP=${STEP:-5000}
CONNS=${CONNS:-8}
CORPUS_N=${CORPUS_N:-200}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init soak
rig_need_exec loadgen "$LOADGEN"
rig_need_exec mxguard "$MXGUARD"

CORPUS=$RIG_TMP/corpus
/usr/bin/python3 "$HERE/mkcorpus.py" "$CORPUS" "$CORPUS_N" 1 > "$RIG_TMP/corpus.log" || rig_die "mkcorpus.py failed"
rig_start_dns "$CORPUS/zone.conf"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
SOCKET="unix:$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$RIG_TMP/mxguard.sock"

fds() { find "/proc/$RIG_MX_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$RIG_MX_PID/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$RIG_MX_PID/status"; }

printf '%9s %6s %9s %8s %9s\n' messages fds rss_kb threads msgs/s
printf '%9s %6s %9s %8s %9s\n' 0 "$(fds)" "$(rss)" "$(threads)" -
done_n=0 ok=1
SAMPLES="$RIG_TMP/samples.txt"
: > "$SAMPLES"
while [ "$done_n" -lt "$TOTAL" ]; do
    n=$STEP
    [ $((done_n + n)) -gt "$TOTAL" ] && n=$((TOTAL - done_n))
    out=$(timeout 600 "$LOADGEN" -s "$SOCKET" -c "$CONNS" -n "$n" -m "$CORPUS/manifest.tsv" 2>> "$RIG_TMP/loadgen.err")
    st=$?
    if [ "$st" -ne 0 ] || [[ ! $out =~ \ mismatches=0$ ]]; then
        ok=0
        rig_log "loadgen failed (exit $st): $out"
    fi
    kill -0 "$RIG_MX_PID" 2>/dev/null || { rig_log "mxguard died"; ok=0; break; }
    done_n=$((done_n + n))
    rate=$(printf '%s' "$out" | sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p')
    f=$(fds) r=$(rss) t=$(threads)
    printf '%9s %6s %9s %8s %9s\n' "$done_n" "$f" "$r" "$t" "${rate:--}"
    echo "$done_n $f $r $t" >> "$SAMPLES"
    # Clear the decision log now and then (it is the daemon's stderr).
    : > "$RIG_MX_LOG"
done
# first = after the first chunk (warm caches, threads started), last, max.
awk 'NR == 1 {ff = $2; fr = $3} {if ($2 > mf) mf = $2; if ($3 > mr) mr = $3; lf = $2; lr = $3}
     END {printf "fds:    first %d  last %d  max %d  growth %+d\n", ff, lf, mf, lf - ff;
          printf "rss_kb: first %d  last %d  max %d  growth %+d\n", fr, lr, mr, lr - fr}' "$SAMPLES"
rig_check "mxguard stops cleanly" rig_stop_mxguard
[ "$ok" -eq 1 ] && rig_pass "every chunk: every message a final reply, as the corpus expects" ||
    rig_fail "a chunk failed (see above)"
rig_finish
