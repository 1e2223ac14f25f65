#!/bin/bash
# sendmail.sh - end-to-end test with a real Sendmail (Debian 12's 8.17,
# unpacked from its packages, never installed: tests/lib/sendmail.sh) on
# 127.0.0.1 in front of the built mxguard, configured with the
# INPUT_MAIL_FILTER line of mxguard(8), once on a unix socket and once on
# TCP, with a private DNS server and smtp-sink.  In each run:
#   - SPF fail: refused at RCPT with the configured reply, logged with
#     Sendmail's queue id (assigned at MAIL);
#   - SPF pass: delivered with our A-R on top, the forged A-R removed;
#   - DKIM simple and relaxed: delivered with dkim=pass;
#   - DMARC p=reject spoof: refused at end of DATA;
#   - quarantine: held in Sendmail's queue (hf file, sendmail -bp -qQ), not
#     delivered;
#   - one decision line per message, each with Sendmail's queue id;
#   - then mxguard stopped: Sendmail defers with a 4xx (F=T).
# The packages come from scripts/install-deps.sh --test (apt-get download):
# without them the test fails and says so.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# UNBOUND_SERVER; SENDMAIL_DEBS (where the .debs are).  Needs root.
# RIG_KEEP=1 keeps the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$TESTS_SRCDIR/lib/sendmail.sh"
rig_init e2e-sendmail
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/e2e"
DKIM_DATA="$TESTS_SRCDIR/data/dkim"

rig_need_exec mxguard "${MXGUARD:-}"
rig_sendmail_root
rig_start_dns "$HERE/sendmail-zone.conf"
rig_start_sink

_delivered() { grep -q "$1: to=<.*stat=Sent" "$RIG_SM_LOG"; }
# sink_file QID: the sink's copy of the message Sendmail queued as QID.
sink_file() { grep -l "with ESMTP id $1" "$RIG_SINK_DIR"/msg.* 2>/dev/null | head -1; }
# headers FILE: the header block, unfolded, without CR.
headers() {
    awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
         { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$1" | tr -d '\r'
}
# our_ar FILE: our A-R header of a delivered message, blanks squeezed.
our_ar() { headers "$1" | grep -i '^Authentication-Results: mx\.rig\.example;' | sed 's/[ \t][ \t]*/ /g'; }

# send LABEL MAILFROM EML: one SMTP session, one message.  Sets MAIL_REPLY,
# RCPT_REPLY, FINAL_REPLY ("" if not reached) and QID (from the 250 reply,
# or "").
send() {
    local mf=$2 eml=$3
    MAIL_REPLY="" RCPT_REPLY="" FINAL_REPLY="" QID=""
    rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] || { rig_smtp_close; return 1; }
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || { rig_smtp_close; return 1; }
    rig_smtp_cmd "MAIL FROM:<$mf>" || { rig_smtp_close; return 1; }
    MAIL_REPLY="$RIG_SMTP_CODE $RIG_SMTP_TEXT"
    [ "$RIG_SMTP_CODE" = 250 ] || { rig_smtp_close; return 0; }
    rig_smtp_cmd "RCPT TO:<bob@dest.example>" || { rig_smtp_close; return 1; }
    RCPT_REPLY="$RIG_SMTP_CODE $RIG_SMTP_TEXT"
    if [ "$RIG_SMTP_CODE" = 250 ]; then
        rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] || { rig_smtp_close; return 1; }
        rig_smtp_data "$eml" || { rig_smtp_close; return 1; }
        FINAL_REPLY="$RIG_SMTP_CODE $RIG_SMTP_TEXT"
        QID=$(rig_sm_qid_from_reply)
    fi
    rig_smtp_close
    return 0
}
# logged_qid PATTERN: the queue id of the Sendmail log line matching PATTERN.
logged_qid() { sed -n "s/.*sendmail\[[0-9]*\]: \([0-9A-Za-z]\{14\}\): .*$1.*/\1/p" "$RIG_SM_LOG" | head -1; }

# run_messages KIND (unix or tcp): the messages through the running pair.
run_messages() {
    local k=$1 nmsg=0 f ar qid hold_qid="" kind
    # ---- SPF fail: refused at RCPT ------------------------------------------
    if send fail mallory@fail.example "$HERE/pass.eml"; then
        # (Sendmail puts the address before the milter's text)
        rig_eq "$k fail: RCPT reply" "550 5.7.23 <bob@dest.example>... SPF validation failed" "$RCPT_REPLY"
    else
        rig_fail "$k fail: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
    fi
    nmsg=$((nmsg + 1))
    qid=$(logged_qid 'Milter: to=<bob@dest.example>, reject=550 5.7.23')
    rig_check "$k fail: Sendmail logged the milter's RCPT reject with a queue id [$qid]" test -n "$qid"
    rig_check_decision "$k-fail" 'mail_from=<mallory@fail.example>' stage=rcpt \
        queue_id="${qid:-?}" client_addr=127.0.0.1 helo=mx.client.example rcpts=0 rcpts_rejected=1 \
        spf=fail spf_domain=fail.example rule=spf-fail action=reject \
        reply="550 5.7.23 SPF validation failed"

    # ---- SPF pass: delivered, our A-R on top, forged ones removed ----------
    if send pass alice@pass.example "$HERE/pass.eml" && [ -n "$QID" ]; then
        rig_pass "$k pass: accepted as $QID"
        nmsg=$((nmsg + 1))
        rig_check_decision "$k-pass" "queue_id=$QID" stage=eom client_addr=127.0.0.1 \
            helo=mx.client.example 'mail_from=<alice@pass.example>' rcpts=1 rcpts_rejected=0 \
            spf=pass spf_helo=pass dkim=none dmarc=none rule=default action=accept reply=-
        if rig_wait_for 15 _delivered "$QID" && f=$(sink_file "$QID") && [ -n "$f" ]; then
            rig_eq "$k pass: A-R headers on the delivered copy" \
"Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=alice@pass.example; spf=pass smtp.helo=mx.client.example; dkim=none; dmarc=none header.from=pass.example
Authentication-Results: other.example; spf=fail smtp.mailfrom=alice@pass.example
Authentication-Results: other.example (mx.rig.example); dkim=none" \
                "$(headers "$f" | grep -i '^Authentication-Results:' | sed 's/[ \t][ \t]*/ /g')"
            # Ours above the message's own headers: only the sink's and
            # Sendmail's Received lines (and the sink's X- lines) above it.
            rig_eq "$k pass: nothing of the original message above our A-R" "" \
                "$(headers "$f" | awk '/^Authentication-Results: mx\.rig\.example;/ { exit } { print }' |
                   grep -vE '^(X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):|Received: from mta\.rig\.example \(\[127\.0\.0\.1\]\) by sink\.rig\.example )')"
            rig_check "$k pass: body untouched (A-R look-alike line in the body kept)" \
                grep -qx $'Authentication-Results: mx.rig.example; this body line must stay\r\\?' "$f"
        else
            rig_fail "$k pass: $QID not delivered to the sink within 15 s"
        fi
    else
        rig_fail "$k pass: not accepted ($RCPT_REPLY / $FINAL_REPLY)"
    fi

    # ---- DKIM, relaxed and simple: dkim=pass ------------------------------
    for kind in relaxed simple; do
        if send "dkim-$kind" alice@pass.example "$DKIM_DATA/pass-$kind.eml" && [ -n "$QID" ]; then
            nmsg=$((nmsg + 1))
            rig_check_decision "$k-dkim-$kind" "queue_id=$QID" stage=eom spf=pass \
                dkim=pass:signer.example rule=default action=accept
            if rig_wait_for 15 _delivered "$QID" && f=$(sink_file "$QID") && [ -n "$f" ]; then
                ar=$(our_ar "$f")
                rig_eq "$k dkim $kind: A-R on the delivered copy (up to header.b)" \
                    "Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=alice@pass.example; spf=pass smtp.helo=mx.client.example; dkim=pass header.d=signer.example header.i=@signer.example header.s=sel2048 header.a=rsa-sha256" \
                    "${ar% header.b=*}"
            else
                rig_fail "$k dkim $kind: $QID not delivered within 15 s"
            fi
        else
            rig_fail "$k dkim $kind: not accepted ($RCPT_REPLY / $FINAL_REPLY)"
        fi
    done

    # ---- DMARC p=reject, spoofed From: refused at end of DATA ---------------
    {
        printf 'From: Bank <alerts@reject.example>\r\nTo: bob@dest.example\r\n'
        printf 'Subject: e2e sendmail spoof\r\nMessage-ID: <spoof-%s@client.example>\r\n' "$k"
        printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nDMARC test.\r\n'
    } > "$RIG_TMP/spoof.eml"
    if send spoof mallory@other.example "$RIG_TMP/spoof.eml"; then
        rig_eq "$k dmarc: end of DATA reply" "550 5.7.1 Rejected by the DMARC policy of the From domain" \
            "$FINAL_REPLY"
    else
        rig_fail "$k dmarc: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
    fi
    nmsg=$((nmsg + 1))
    qid=$(logged_qid 'Milter: data, reject=550 5.7.1')
    rig_check "$k dmarc: Sendmail logged the milter's end-of-message reject with a queue id [$qid]" test -n "$qid"
    rig_check_decision "$k-dmarc" 'mail_from=<mallory@other.example>' stage=eom queue_id="${qid:-?}" \
        spf=pass dmarc=fail dmarc_policy=p:reject/reject from_domain=reject.example \
        rule=dmarc-reject action=reject reply="550 5.7.1 Rejected by the DMARC policy of the From domain"

    # ---- quarantine: held in Sendmail's queue --------------------------------
    if send hold carol@hold.example "$HERE/hold.eml" && [ -n "$QID" ]; then
        hold_qid=$QID
        nmsg=$((nmsg + 1))
        rig_check_decision "$k-hold" "queue_id=$QID" stage=eom 'mail_from=<carol@hold.example>' \
            spf=pass rule=hold action=quarantine reply="mxguard rule hold"
        rig_check "$k hold: $QID quarantined in the queue (hf$QID)" \
            rig_wait_for 10 test -f "$RIG_SM_DIR/queue/hf$QID"
        rig_check "$k hold: the reason is in the queue file" \
            grep -qx 'qmxguard rule hold' "$RIG_SM_DIR/queue/hf$QID"
        rig_sm_run -bp -qQ > "$RIG_TMP/mailq-$k.out" 2>&1
        rig_check "$k hold: sendmail -bp -qQ lists $QID" grep -q "^$QID " "$RIG_TMP/mailq-$k.out"
        rig_check "$k hold: mailq shows 'QUARANTINE: mxguard rule hold'" \
            grep -q 'QUARANTINE: mxguard rule hold' "$RIG_TMP/mailq-$k.out"
        # Released as mxguard(8) says: back in the normal queue (no queue
        # run here, so it stays there undelivered).
        rig_sm_run -Q -qQ -qI"$QID" > "$RIG_TMP/release-$k.out" 2>&1
        rig_check "$k hold: sendmail -Q -qQ -qI$QID releases it (qf$QID, no hf$QID)" \
            test -f "$RIG_SM_DIR/queue/qf$QID" -a ! -f "$RIG_SM_DIR/queue/hf$QID"
    else
        rig_fail "$k hold: not accepted ($RCPT_REPLY / $FINAL_REPLY)"
    fi

    # ---- every message: one decision line, Sendmail's queue ids -----------
    rig_eq "$k: one decision line per message" "$nmsg" "$(rig_decisions | wc -l)"
    rig_eq "$k: every decision line has its own Sendmail queue id" "$nmsg" \
        "$(rig_decisions | sed -n 's/.* queue_id=\([0-9A-Za-z]\{14\}\) .*/\1/p' | sort -u | wc -l)"
    rig_eq "$k: the sink got the three accepted messages, not the held one" 3 "$(rig_sink_count)"
    [ -n "$hold_qid" ] && rig_check "$k hold: $hold_qid not delivered" \
        bash -c "! grep -q '$hold_qid: to=.*stat=Sent' '$RIG_SM_LOG'"
    rig_check "$k: Sendmail logged no milter error" \
        bash -c "! grep -qiE 'milter.*(error|timeout|unavailable|unsafe)|Milter \(mxguard\): .*(fail|error)' '$RIG_SM_LOG'"
}

# ---- run 1: unix socket ------------------------------------------------------
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
SOCK="$RIG_TMP/mxguard.sock"
SOCKET="unix:$SOCK" RIG_SUBST_VARS="SOCKET DNS_PORT" rig_subst "$HERE/sendmail.conf.in" "$RIG_TMP/mx-unix.conf"
rig_start_mxguard "$RIG_TMP/mx-unix.conf" "$SOCK"
rig_start_sendmail "local:$SOCK"
START_UNIX=$RIG_SM_START_MS
T1=$(rig_now_ms)
run_messages unix
rig_check "unix: mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
rig_stop_sendmail
mv "$RIG_MX_LOG" "$RIG_TMP/mxguard-unix.log"
find "$RIG_SINK_DIR" -type f -name 'msg.*' -delete
T2=$(rig_now_ms)

# ---- run 2: TCP --------------------------------------------------------------
MXPORT=$(rig_free_port)
SOCKET="inet:$MXPORT@127.0.0.1" RIG_SUBST_VARS="SOCKET DNS_PORT" \
    rig_subst "$HERE/sendmail.conf.in" "$RIG_TMP/mx-tcp.conf"
rig_start_mxguard "$RIG_TMP/mx-tcp.conf" "inet:$MXPORT"
rig_start_sendmail "inet:$MXPORT@127.0.0.1"
START_TCP=$RIG_SM_START_MS
run_messages tcp

# ---- mxguard down: F=T defers -------------------------------------------------
rig_check "tcp: mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
before=$(rig_sink_count)
if send down alice@pass.example "$HERE/pass.eml"; then
    rig_eq "mxguard down: Sendmail defers at MAIL (F=T)" "451 4.3.2 Please try again later" "$MAIL_REPLY"
else
    rig_fail "mxguard down: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
sleep 0.5
rig_eq "mxguard down: nothing delivered" "$before" "$(rig_sink_count)"
rig_check "mxguard down: Sendmail logged the unavailable milter" \
    grep -qE 'Milter \(mxguard\): .*(error connecting|to error state)' "$RIG_SM_LOG"

rig_log "Sendmail start to first connection: $START_UNIX ms (unix run), $START_TCP ms (TCP run)"
rig_log "messages took $(( $(rig_now_ms) - T1 )) ms, total $(( $(rig_now_ms) - T0 )) ms (setup $((T1 - T0)) ms, unix run $((T2 - T1)) ms)"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# SMTP transcript:"; sed 's/^/#   /' "$RIG_TMP/smtp.log" | tail -60
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -30
    echo "# Sendmail log:"; sed 's/^/#   /' "$RIG_SM_LOG" | tail -40
fi
rig_finish
