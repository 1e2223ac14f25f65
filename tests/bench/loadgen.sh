#!/bin/bash
# loadgen.sh - make check: the load generator (tests/bench/loadgen) against the
# built mxguard over its unix socket, with a small corpus from mkcorpus.py
# (DKIM-signed with rsa-sha256 2048 and ed25519 by python3-dkim) and its DNS
# data on the test unbound.  Asserts that every message gets a final reply
# and that the verdict counts equal the corpus' expectations (accept,
# reject, quarantine); no timing is asserted.
#
# Environment (TESTS_ENVIRONMENT): MXGUARD, BUILDDIR, TESTS_SRCDIR,
# UNBOUND_SERVER.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init loadgen
HERE="$TESTS_SRCDIR/bench"
LOADGEN="${BUILDDIR:-.}/tests/bench/loadgen"
rig_need_exec loadgen "$LOADGEN"
rig_need_exec python3 /usr/bin/python3

CORPUS="$RIG_TMP/corpus"
/usr/bin/python3 "$HERE/mkcorpus.py" "$CORPUS" 100 7 > "$RIG_TMP/mkcorpus.out" 2>&1 ||
    { cat "$RIG_TMP/mkcorpus.out"; rig_die "mkcorpus.py failed (python3-dkim, python3-nacl: scripts/install-deps.sh --test)"; }
rig_log "$(cat "$RIG_TMP/mkcorpus.out")"
rig_start_dns "$CORPUS/zone.conf"
SOCKET="unix:$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$RIG_TMP/mxguard.sock"

# 200 messages: the 100 of the corpus twice, over 8 connections.
want() { cut -f6 "$CORPUS/manifest.tsv" | grep -cx "$1" | awk '{print $1 * 2}'; }
out=$(timeout 120 "$LOADGEN" -s "$SOCKET" -c 8 -n 200 -m "$CORPUS/manifest.tsv" 2> "$RIG_TMP/loadgen.err")
st=$?
rig_log "$out"
head -20 "$RIG_TMP/loadgen.err"
rig_eq "loadgen exit status (every message a final reply, as expected)" 0 "$st"
rig_match "loadgen ran 200 messages" ' messages=200 ' "$out"
for v in accept reject quarantine tempfail discard error; do
    n=0
    case $v in accept|reject|quarantine) n=$(want "$v") ;; esac
    rig_match "verdict count $v=$n" " $v=$n " "$out"
done
rig_match "no message against its expectation" ' mismatches=0$' "$out"
rig_eq "mxguard logged 200 decision lines" 200 "$(rig_decisions | wc -l)"
rig_check_mxguard_log
rig_check "mxguard stops cleanly" rig_stop_mxguard
rig_finish
