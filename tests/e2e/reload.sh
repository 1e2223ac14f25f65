#!/bin/bash
# reload.sh - fault test: SIGHUP reloads in the middle of a bounded stream
# of 200 messages through a private Postfix (tests/lib/postfix.sh), one SMTP
# session each from tests/lib/smtpstream.py (10 ms between sessions):
#   after ~70 messages a changed, valid config (generation 2: another
#   authserv-id, another dry-run rule name; faults.conf.in);
#   after ~140 an invalid one (the reload is refused, logged, generation 2
#   keeps running).
# Asserted: every message accepted (250) and delivered, none refused; the
# decision lines name generation 1 then generation 2 (both seen, never 1
# after 2, one line per message), the delivered copies' A-R carry mx1 then
# mx2 in the same numbers; the good reload and the refused one are logged.
#
# Environment (TESTS_ENVIRONMENT): MXGUARD, TESTS_SRCDIR, POSTFIX,
# UNBOUND_SERVER.  Needs root (a private Postfix).  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init reload
HERE="$TESTS_SRCDIR/e2e"
N=200

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec python3 /usr/bin/python3

rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
CONF="$RIG_TMP/mxguard.conf"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT GEN"
GEN=1; rig_subst "$HERE/faults.conf.in" "$RIG_TMP/gen1.conf"
GEN=2; rig_subst "$HERE/faults.conf.in" "$RIG_TMP/gen2.conf"
cp "$RIG_TMP/gen1.conf" "$CONF"
rig_start_mxguard "$CONF" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"

rig_start_stream reload "$N" 10
OUT=$RIG_STREAM_OUT
STREAM_PID=$RIG_STREAM_PID
T0=$RIG_STREAM_T0
_done_at_least() { [ "$(wc -l < "$OUT")" -ge "$1" ]; }
_logged() { [ "$(grep -c -- "$1" "$RIG_MX_LOG")" -ge "$2" ]; }

rig_wait_for 120 _done_at_least 70 || rig_die "the stream did not reach 70 messages"
# The new file replaces the old one at once (rename), as an editor would.
cp "$RIG_TMP/gen2.conf" "$CONF.new" && mv "$CONF.new" "$CONF"
kill -HUP "$RIG_MX_PID"
rig_log "SIGHUP (generation 2) after $(wc -l < "$OUT") messages"
rig_check "the reload is logged" rig_wait_for 10 _logged 'configuration reloaded from' 1

rig_wait_for 120 _done_at_least 140 || rig_die "the stream did not reach 140 messages"
{ cat "$RIG_TMP/gen2.conf"; echo 'rules = ( { name = "broken"; action = "explode"; } );'; } > "$CONF.new"
mv "$CONF.new" "$CONF"
kill -HUP "$RIG_MX_PID"
rig_log "SIGHUP (invalid config) after $(wc -l < "$OUT") messages"
rig_check "the refused reload is logged" rig_wait_for 10 _logged 'keeping the running configuration' 1

rig_wait_for 120 _done_at_least "$N" || rig_fail "the stream did not finish $N messages"
wait "$STREAM_PID" 2>/dev/null
rig_log "stream of $N took $(( $(rig_now_ms) - T0 )) ms"

rig_eq "all $N messages accepted" "$N" "$(grep -c ' accepted ' "$OUT")"
rig_eq "none refused or broken" 0 "$(grep -vc ' accepted ' "$OUT")"
_all_delivered() { [ "$(rig_sink_count)" -ge "$N" ]; }
rig_wait_for 60 _all_delivered
rig_eq "all $N delivered" "$N" "$(rig_sink_count)"

# Decision lines, in message order (one client, one session at a time).
rig_decisions | sed -n 's/.* dry_run=\(gen-[0-9]\) .*/\1/p' > "$RIG_TMP/gens.txt"
g1=$(grep -cx gen-1 "$RIG_TMP/gens.txt")
g2=$(grep -cx gen-2 "$RIG_TMP/gens.txt")
rig_log "decisions: generation 1: $g1, generation 2: $g2"
rig_eq "one decision line per message" "$N" "$(rig_decisions | wc -l)"
rig_eq "every decision line is gen-1 or gen-2, accepted" "$N" \
    "$(rig_decisions | grep -cE ' rule=default dry_run=gen-[12] action=accept ')"
rig_check "generation 1 handled messages ($g1)" test "$g1" -ge 1
rig_check "generation 2 handled messages ($g2)" test "$g2" -ge 1
rig_eq "never generation 1 after generation 2" "$g1" \
    "$(awk '$0 == "gen-2" {exit} {n++} END {print n + 0}' "$RIG_TMP/gens.txt")"
rig_check "generation 2 handled everything after the refused reload (>= 50)" test "$g2" -ge 50
a1=$(grep -l '^Authentication-Results: mx1.rig.example;' "$RIG_SINK_DIR"/msg.* | wc -l)
a2=$(grep -l '^Authentication-Results: mx2.rig.example;' "$RIG_SINK_DIR"/msg.* | wc -l)
rig_eq "delivered copies with generation 1's A-R" "$g1" "$a1"
rig_eq "delivered copies with generation 2's A-R" "$g2" "$a2"

rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; grep -v ' decision ' "$RIG_MX_LOG" | tail -30 | sed 's/^/#   /'
fi
rig_finish
