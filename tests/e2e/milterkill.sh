#!/bin/bash
# milterkill.sh - fault test: mxguard is killed (SIGKILL) and restarted while
# a private Postfix (milter_default_action = tempfail, tests/lib/postfix.sh)
# takes a bounded stream of 200 messages, one SMTP session each, from
# tests/lib/smtpstream.py (25 ms between sessions).  The stream does not
# stop for the outage.
#
# "Lost" means: the client got 250 for the final dot (so it dropped its
# copy) but the message is neither in the sink (delivered) nor in Postfix's
# queue.  A message refused with 4xx is not lost: the client still has it
# and retries.  Asserted:
#   sent = accepted + 4xx-refused (nothing 5xx, no session without reply);
#   accepted = delivered + queued, each accepted message found by its queue
#   id / X-Stream header: 0 lost; nothing delivered that was refused (no
#   duplicates); every delivered copy carries mxguard's A-R (nothing passed
#   unchecked while mxguard was down) and has a decision line (queue id,
#   action=accept) in the log of the daemon that handled it;
#   the outage was hit (at least one 4xx) and the restarted daemon takes
#   the rest of the stream (the last 20 messages accepted).
#
# Environment (TESTS_ENVIRONMENT): MXGUARD, TESTS_SRCDIR, POSTFIX,
# UNBOUND_SERVER.  Needs root (a private Postfix).  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init milterkill
HERE="$TESTS_SRCDIR/e2e"
N=200
KILL_AT=50

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec python3 /usr/bin/python3

rig_start_dns "$HERE/zone.conf"
# The socket below Postfix's queue directory, named relative to it in
# smtpd_milters (unix:mxguard/mxguard.sock), as mxguard(8) and
# mxguard.conf(5) tell a chrooted Postfix; this Postfix is not chrooted,
# and the same line works.
mkdir -p "$RIG_TMP/pf/queue/mxguard"
SOCKET="$RIG_TMP/pf/queue/mxguard/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
GEN=1
RIG_SUBST_VARS="SOCKET DNS_PORT GEN"
rig_subst "$HERE/faults.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"
rig_start_sink
rig_start_postfix "unix:mxguard/mxguard.sock"

rig_start_stream kill "$N" 25
OUT=$RIG_STREAM_OUT
STREAM_PID=$RIG_STREAM_PID
T0=$RIG_STREAM_T0

_done_at_least() { [ "$(wc -l < "$OUT")" -ge "$1" ]; }
_some_temp() { grep -q ' temp ' "$OUT"; }

rig_wait_for 120 _done_at_least "$KILL_AT" || rig_die "the stream did not reach $KILL_AT messages"
kill -KILL "$RIG_MX_PID"
wait "$RIG_MX_PID" 2>/dev/null
KILLED_AT=$(wc -l < "$OUT")
rig_log "mxguard (pid $RIG_MX_PID) killed with SIGKILL after $KILLED_AT messages"
cp "$RIG_MX_LOG" "$RIG_TMP/mxguard-1.log"
# Keep it down until Postfix has refused at least one message.
rig_wait_for 30 _some_temp || rig_log "no 4xx within 30 s of the kill"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"
RESTARTED_AT=$(wc -l < "$OUT")
rig_log "mxguard restarted after $RESTARTED_AT messages ($(( $(rig_now_ms) - T0 )) ms into the stream)"

rig_wait_for 200 _done_at_least "$N" || rig_fail "the stream did not finish $N messages"
wait "$STREAM_PID" 2>/dev/null
rig_log "stream of $N took $(( $(rig_now_ms) - T0 )) ms"

sent=$(wc -l < "$OUT")
accepted=$(grep -c ' accepted ' "$OUT")
temp=$(grep -c ' temp ' "$OUT")
perm=$(grep -c ' perm ' "$OUT")
err=$(grep -c ' error ' "$OUT")
rig_eq "all $N messages sent" "$N" "$sent"
rig_eq "sent = accepted + 4xx ($accepted + $temp)" "$sent" "$((accepted + temp))"
rig_eq "nothing refused with 5xx" 0 "$perm"
rig_eq "no session without a reply" 0 "$err"
rig_check "the outage was hit: $temp messages got 4xx" test "$temp" -ge 1
rig_eq "the restarted mxguard takes the rest (last 20 accepted)" 20 \
    "$(tail -20 "$OUT" | grep -c ' accepted ')"
grep ' temp ' "$OUT" | awk '{print $3" at "$4}' | sort | uniq -c | sed 's/^/# 4xx: /'

# Delivered: the X-Stream numbers in the sink; queued: the queue ids left.
sink_numbers() { grep -h '^X-Stream: kill ' "$RIG_SINK_DIR"/msg.* 2>/dev/null | awk '{print $3}' | tr -d '\r'; }
queued_ids() { rig_postqueue_json | grep -o '"queue_id": *"[0-9A-Za-z]*"' | sed 's/.*"\([0-9A-Za-z]*\)"$/\1/'; }
_all_settled() { [ $(( $(sink_numbers | wc -l) + $(queued_ids | wc -l) )) -ge "$accepted" ] && [ "$(queued_ids | wc -l)" -eq 0 ]; }
rig_wait_for 60 _all_settled || rig_log "not everything delivered within 60 s"
sink_numbers | sort -n > "$RIG_TMP/delivered.txt"
queued_ids > "$RIG_TMP/queued.txt"
delivered=$(wc -l < "$RIG_TMP/delivered.txt")
queued=$(wc -l < "$RIG_TMP/queued.txt")
lost=0 dup=0 extra=0
while read -r n kind qid _; do
    c=$(grep -cx "$n" "$RIG_TMP/delivered.txt")
    if [ "$kind" = accepted ]; then
        if [ "$c" -eq 0 ] && ! grep -qx "$qid" "$RIG_TMP/queued.txt"; then
            lost=$((lost + 1)); rig_log "lost: message $n (queue id $qid)"
        fi
        [ "$c" -gt 1 ] && dup=$((dup + 1))
    elif [ "$c" -gt 0 ]; then
        extra=$((extra + 1)); rig_log "delivered although refused: message $n ($kind $qid)"
    fi
done < "$OUT"
rig_log "sent=$sent accepted=$accepted refused_4xx=$temp delivered=$delivered queued=$queued lost=$lost"
rig_eq "accepted = delivered + queued" "$accepted" "$((delivered + queued))"
rig_eq "0 lost" 0 "$lost"
rig_eq "no accepted message delivered twice" 0 "$dup"
rig_eq "nothing delivered that the client was refused" 0 "$extra"
rig_eq "every delivered copy has mxguard's A-R" "$delivered" \
    "$(grep -l '^Authentication-Results: mx1.rig.example;' "$RIG_SINK_DIR"/msg.* 2>/dev/null | wc -l)"

# Every accepted message has its decision line (in the killed or the new log).
cat "$RIG_TMP/mxguard-1.log" "$RIG_MX_LOG" > "$RIG_TMP/mxguard-all.log"
nodec=0
while read -r n kind qid _; do
    [ "$kind" = accepted ] || continue
    grep -q "decision stage=eom queue_id=$qid .* action=accept " "$RIG_TMP/mxguard-all.log" ||
        { nodec=$((nodec + 1)); rig_log "no decision line for message $n ($qid)"; }
done < "$OUT"
rig_eq "every accepted message has an accept decision line" 0 "$nodec"

rig_check "the restarted mxguard exits 0 on SIGTERM" rig_stop_mxguard
RIG_MX_LOG="$RIG_TMP/mxguard-all.log" rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# Postfix log:"; tail -30 "$RIG_PF_DIR/maillog" | sed 's/^/#   /'
fi
rig_finish
