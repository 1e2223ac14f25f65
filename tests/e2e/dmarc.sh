#!/bin/bash
# dmarc.sh - end-to-end test of DMARC through a private Postfix on 127.0.0.1
# with the built mxguard as its milter, a private DNS server and smtp-sink:
#   - From of a p=reject domain with an aligned SPF pass: delivered, our A-R
#     says dmarc=pass header.from=pass.example;
#   - spoofed From of a p=reject domain: refused at end of DATA with the
#     configured 550 5.7.1 reply;
#   - From of a p=quarantine domain: in Postfix's hold queue;
#   - two From fields: refused (dmarc=permerror, from_header=multiple).
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance).
# Set RIG_KEEP=1 to keep the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init e2e-dmarc
HERE="$TESTS_SRCDIR/e2e"

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec postqueue "$(command -v postqueue || echo /usr/sbin/postqueue)"

rig_start_dns "$HERE/dmarc-zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/dmarc.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"

_delivered() { grep -q "$1: to=<.*status=sent" "$RIG_PF_DIR/maillog"; }
_in_hold() { rig_postqueue_json | grep -q "\"queue_name\": *\"hold\".*\"queue_id\": *\"$1\"\|\"queue_id\": *\"$1\".*\"queue_name\": *\"hold\""; }

# send LABEL MAILFROM FROM1 [FROM2]: one message; sets QID ("" when refused)
# and the final reply in RIG_SMTP_CODE / RIG_SMTP_TEXT.
send() {
    local label=$1 mf=$2 f1=$3 f2=${4:-} msg="$RIG_TMP/$1.eml"
    {
        printf 'From: %s\r\n' "$f1"
        [ -n "$f2" ] && printf 'From: %s\r\n' "$f2"
        printf 'To: bob@dest.example\r\nSubject: e2e dmarc %s\r\nMessage-ID: <%s@client.example>\r\n' "$label" "$label"
        printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nDMARC test %s.\r\n' "$label"
    } > "$msg"
    rig_smtp_send "$mf" bob@dest.example "$msg"
}

# ---- 1. DMARC pass: delivered with dmarc=pass ------------------------------
if send pass alice@pass.example "Alice <alice@pass.example>" && [ -n "$QID" ]; then
    rig_pass "pass: accepted as $QID"
    PASS_QID=$QID
    rig_check_decision pass "queue_id=$PASS_QID" stage=eom spf=pass dmarc=pass dmarc_policy=p:reject/none \
        dmarc_aligned=spf rule=default action=accept
    if rig_wait_for 15 _delivered "$PASS_QID"; then
        f=$(grep -l "id $PASS_QID" "$RIG_SINK_DIR"/msg.* 2>/dev/null | head -1)
        ar=$(awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
                  { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$f" |
             tr -d '\r' | grep '^Authentication-Results: mx\.rig\.example;' | sed 's/[ \t][ \t]*/ /g')
        rig_eq "pass: A-R after delivery" \
            "Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=alice@pass.example; dmarc=pass (p=reject applied=none) header.from=pass.example" \
            "$ar"
    else
        rig_fail "pass: $PASS_QID not delivered within 15 s"
    fi
else
    rig_fail "pass: not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi

# ---- 2. spoofed From of a p=reject domain: refused --------------------------
if send spoof mallory@other.example "Bank <alerts@reject.example>"; then
    rig_eq "spoof: end of DATA reply" "550 5.7.1 Rejected by the DMARC policy of the From domain" \
        "$RIG_SMTP_CODE $RIG_SMTP_TEXT"
else
    rig_fail "spoof: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision spoof 'mail_from=<mallory@other.example>' dmarc=fail dmarc_policy=p:reject/reject \
    dmarc_aligned=none rule=dmarc-reject action=reject

# ---- 3. p=quarantine: hold queue -----------------------------------------
if send quarantine mallory@other.example "x@quar.example" && [ -n "$QID" ]; then
    HOLD_QID=$QID
    rig_check "quarantine: $HOLD_QID in the hold queue" rig_wait_for 10 _in_hold "$HOLD_QID"
    rig_check_decision quarantine "queue_id=$HOLD_QID" dmarc=fail dmarc_policy=p:quarantine/quarantine \
        rule=dmarc-quarantine action=quarantine reply="DMARC quarantine"
else
    rig_fail "quarantine: not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi

# ---- 4. two From fields: the documented verdict ------------------------------
if send twofrom alice@pass.example "alice@pass.example" "alerts@reject.example"; then
    rig_eq "two From: end of DATA reply" "550 5.7.1 Message needs exactly one From address" \
        "$RIG_SMTP_CODE $RIG_SMTP_TEXT"
else
    rig_fail "two From: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision twofrom 'rule=from-header' dmarc=permerror dmarc_policy=- action=reject

rig_eq "one decision line per message" 4 "$(rig_decisions | wc -l)"
rig_check "Postfix logged no milter errors" \
    bash -c "! grep -qE 'warning:.*milter|Service unavailable' '$RIG_PF_DIR/maillog'"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# SMTP transcript:"; sed 's/^/#   /' "$RIG_TMP/smtp.log"
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -20
    echo "# Postfix log:"; sed 's/^/#   /' "$RIG_PF_DIR/maillog" | tail -20
fi
rig_finish
