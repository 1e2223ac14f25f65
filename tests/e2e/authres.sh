#!/bin/bash
# authres.sh - end-to-end test of what our Authentication-Results header
# says, through a private Postfix on 127.0.0.1 with the built mxguard as
# its milter, a private DNS server and smtp-sink:
#   - an rsa-sha1 DKIM signature is never valid (RFC 8301 3.1): dkim=policy
#     with its reason on the decision line, and DMARC does not count it as
#     an aligned pass (the From domain's p=reject refuses the message);
#   - beside a good rsa-sha256 signature: delivered, the A-R has
#     "dkim=policy (rsa-sha1 not allowed by RFC 8301)" and dkim=pass;
#   - no authserv_id in the config: the authserv-id is Postfix's myhostname
#     (macro {j}, sent at connect by default), for the header written and
#     for the forged ones removed.  (With authserv_id set, the config wins:
#     tests/e2e/postfix.sh sets mx.rig.example beside this same myhostname.)
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance).
# Set RIG_KEEP=1 to keep the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init e2e-authres
HERE="$TESTS_SRCDIR/e2e"
DKIM_DATA="$TESTS_SRCDIR/data/dkim"
MTA_NAME=mta.rig.example   # myhostname of the rig's Postfix (tests/lib/postfix.sh)

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"

rig_start_dns "$HERE/authres-zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/authres.conf.in" "$RIG_TMP/mxguard.conf"
rig_check "the config sets no authserv_id" bash -c "! grep -q '^ *authserv_id' '$RIG_TMP/mxguard.conf'"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"
rig_eq "Postfix's myhostname" "$MTA_NAME" "$(postconf -c "$RIG_PF_CONF" -h myhostname)"

_delivered() { grep -q "$1: to=<.*status=sent" "$RIG_PF_DIR/maillog"; }

# send FILE: one message from alice@pass.example (SPF pass, not aligned
# with the From domain signer.example); sets QID ("" when refused) and the
# final reply in RIG_SMTP_CODE / RIG_SMTP_TEXT.
send() {
    rig_smtp_send alice@pass.example bob@dest.example "$1"
}

# ---- 1. rsa-sha1 only: not a pass, so DMARC fails and p=reject refuses ----
if send "$DKIM_DATA/rsa-sha1.eml"; then
    rig_eq "rsa-sha1: end of DATA reply" "550 5.7.1 Rejected by the DMARC policy of the From domain" \
        "$RIG_SMTP_CODE $RIG_SMTP_TEXT"
else
    rig_fail "rsa-sha1: SMTP session broke ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision rsa-sha1 'dkim=policy:signer.example' stage=eom spf=pass \
    dkim_reason="signer.example:rsa-sha1 not allowed by RFC 8301" dmarc=fail \
    dmarc_policy=p:reject/reject dmarc_aligned=none from_domain=signer.example \
    rule=dmarc-reject action=reject

# ---- 2. rsa-sha1 beside rsa-sha256, forged A-R headers: delivered ----------
# The A-R headers go above the signed message (A-R is not signed): one with
# Postfix's name (ours, forged: removed), one of another host (kept).
MSG="$RIG_TMP/mixed.eml"
{
    printf 'Authentication-Results: %s; dkim=pass header.d=signer.example\r\n' "$MTA_NAME"
    printf 'Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=x@pass.example\r\n'
    cat "$DKIM_DATA/rsa-sha1-and-sha256.eml"
} > "$MSG"
if send "$MSG" && [ -n "$QID" ]; then
    rig_pass "mixed: accepted as $QID"
    rig_check_decision mixed "queue_id=$QID" stage=eom spf=pass \
        dkim=policy:signer.example,pass:signer.example \
        dkim_reason="signer.example:rsa-sha1 not allowed by RFC 8301" dmarc=pass dmarc_aligned=dkim \
        rule=default action=accept
    if rig_wait_for 15 _delivered "$QID"; then
        f=$(grep -l "id $QID" "$RIG_SINK_DIR"/msg.* 2>/dev/null | head -1)
        ars=$(awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
                   { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$f" |
              tr -d '\r' | grep -i '^Authentication-Results:' | sed -e 's/[ \t][ \t]*/ /g' \
                  -e 's/ header\.b=\("[^"]*"\|[^ ;]*\)//g')
        rig_eq "mixed: A-R headers after delivery (header.b left out)" \
"Authentication-Results: $MTA_NAME; spf=pass smtp.mailfrom=alice@pass.example; dkim=policy (rsa-sha1 not allowed by RFC 8301) header.d=signer.example header.i=@signer.example header.s=test header.a=rsa-sha1; dkim=pass header.d=signer.example header.i=@signer.example header.s=sel2048 header.a=rsa-sha256; dmarc=pass (p=reject applied=none) header.from=signer.example
Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=x@pass.example" \
            "$ars"
    else
        rig_fail "mixed: $QID not delivered within 15 s"
    fi
else
    rig_fail "mixed: not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi

rig_eq "one decision line per message" 2 "$(rig_decisions | wc -l)"
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
