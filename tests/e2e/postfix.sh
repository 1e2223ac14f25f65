#!/bin/bash
# postfix.sh - end-to-end test: a private Postfix on 127.0.0.1 with the built
# mxguard as its milter (unix socket), a private DNS server (unbound), and
# smtp-sink as the next hop that keeps every delivered message.
#   - SPF pass: delivered, our A-R header (spf=pass) above the original
#     headers, every forged A-R with our authserv-id gone, others kept;
#   - SPF fail: refused at RCPT with the configured reply, nothing queued;
#   - SPF temperror: deferred at RCPT with the configured 4xx reply;
#   - quarantine rule: the message sits in Postfix's hold queue;
#   - DNS lists: a client (XCLIENT ADDR=192.0.2.66) on a block list is refused
#     at RCPT with the list and its TXT in the reply; one that is also on the
#     allow-list gets through RCPT;
#   - everything forwarded (issue 14): SPF ptr: for a client (XCLIENT) on a
#     private address and an include: under test. pass with the upstream's
#     data;
#   - the decision line of each (stage, action, rule, spf, queue id).
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance).
# Set RIG_KEEP=1 to keep the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init e2e
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/e2e"

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec postqueue "$(command -v postqueue || echo /usr/sbin/postqueue)"

rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # TMP and DNS_PORT are used through RIG_SUBST_VARS
TMP=$RIG_TMP
# shellcheck disable=SC2034
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET TMP DNS_PORT"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"
T1=$(rig_now_ms)
rig_log "setup took $((T1 - T0)) ms"

# smtp_until_rcpt FROM RCPT: a fresh session up to RCPT TO (reply in
# RIG_SMTP_CODE / RIG_SMTP_TEXT).  Returns 1 if a step before RCPT failed.
smtp_until_rcpt() {
    rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "MAIL FROM:<$1>" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "RCPT TO:<$2>"
}
# smtp_data FILE: DATA + message; sets QID from "250 2.0.0 Ok: queued as X".
smtp_data() {
    QID=""
    rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] || return 1
    rig_smtp_data "$1" || return 1
    [[ $RIG_SMTP_TEXT =~ queued\ as\ ([0-9A-Za-z]+) ]] && QID=${BASH_REMATCH[1]}
    [ "$RIG_SMTP_CODE" = 250 ]
}
_delivered() { grep -q "$1: to=<.*status=sent" "$RIG_PF_DIR/maillog"; }
_in_hold() { rig_postqueue_json | grep -q "\"queue_name\": *\"hold\".*\"queue_id\": *\"$1\"\|\"queue_id\": *\"$1\".*\"queue_name\": *\"hold\""; }

# ---- 1. SPF fail: refused at RCPT with the configured reply ------------------
before=$(rig_sink_count)
if smtp_until_rcpt mallory@fail.example bob@dest.example; then
    rig_eq "fail: RCPT reply code" 550 "$RIG_SMTP_CODE"
    rig_eq "fail: RCPT reply text" "5.7.23 SPF validation failed" "$RIG_SMTP_TEXT"
    rig_smtp_cmd "DATA"
    rig_check "fail: DATA refused (no valid recipient), got $RIG_SMTP_CODE" \
        test "${RIG_SMTP_CODE:0:1}" = 5 -o "${RIG_SMTP_CODE:0:1}" = 4
    rig_smtp_cmd "RSET"
    rig_smtp_close
else
    rig_fail "fail: SMTP session broke before RCPT ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision fail 'mail_from=<mallory@fail.example>' stage=rcpt \
    client_addr=127.0.0.1 helo=mx.client.example rcpts=0 rcpts_rejected=1 \
    spf=fail spf_domain=fail.example spf_helo=pass rule=spf-fail action=reject \
    reply="550 5.7.23 SPF validation failed" queue_id=-
# (Postfix assigns a queue id only when it accepts the first recipient.)

# ---- 2. SPF temperror: deferred at RCPT ------------------------------------
if smtp_until_rcpt tom@broken.example bob@dest.example; then
    rig_eq "temperror: RCPT reply code" 451 "$RIG_SMTP_CODE"
    rig_eq "temperror: RCPT reply text" "4.4.3 SPF temporary error, try again later" "$RIG_SMTP_TEXT"
    rig_smtp_close
else
    rig_fail "temperror: SMTP session broke before RCPT ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision temperror 'mail_from=<tom@broken.example>' stage=rcpt \
    spf=temperror rule=spf-temp action=tempfail \
    reply="451 4.4.3 SPF temporary error, try again later"

# ---- 2b. DNS lists: a listed client is refused at RCPT, before DATA ---------
# smtp_xclient_until_rcpt ADDR: XCLIENT claims ADDR (a documentation address,
# never contacted), then EHLO, MAIL and RCPT as usual.
smtp_xclient_until_rcpt() {
    rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "XCLIENT ADDR=$1 NAME=[UNAVAILABLE]" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "MAIL FROM:<dan@nospf.example>" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "RCPT TO:<bob@dest.example>"
}
if smtp_xclient_until_rcpt 192.0.2.66; then
    rig_eq "dnsbl: RCPT reply code" 554 "$RIG_SMTP_CODE"
    rig_eq "dnsbl: RCPT reply text" \
        "5.7.1 Client blocked using bl: Listed by the rig, see https://bl.example/192.0.2.66" "$RIG_SMTP_TEXT"
    rig_smtp_cmd "DATA"
    rig_check "dnsbl: DATA refused (no valid recipient), got $RIG_SMTP_CODE" \
        test "${RIG_SMTP_CODE:0:1}" = 5 -o "${RIG_SMTP_CODE:0:1}" = 4
    rig_smtp_close
else
    rig_fail "dnsbl: SMTP session broke before RCPT ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_check_decision dnsbl 'mail_from=<dan@nospf.example>' stage=rcpt client_addr=192.0.2.66 \
    rcpts_rejected=1 dnsbl_score=5 dnsbl=bl:127.0.0.2 rule=dnsbl-block action=reject \
    reply="554 5.7.1 Client blocked using bl: Listed by the rig, see https://bl.example/192.0.2.66"
# On the block list and the allow-list (weight -10): RCPT accepted.
if smtp_xclient_until_rcpt 192.0.2.77; then
    rig_eq "dnsbl allow-list: RCPT accepted" 250 "$RIG_SMTP_CODE"
    rig_smtp_cmd "RSET"
    rig_smtp_close
else
    rig_fail "dnsbl allow-list: SMTP session broke before RCPT ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi

# ---- 3. quarantine rule: hold queue ----------------------------------------
HOLD_QID=""
if smtp_until_rcpt carol@hold.example bob@dest.example &&
   rig_eq "hold: RCPT accepted" 250 "$RIG_SMTP_CODE" &&
   smtp_data "$HERE/hold.eml"; then
    HOLD_QID=$QID
    rig_pass "hold: message accepted as $HOLD_QID"
else
    rig_fail "hold: message not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
if [ -n "$HOLD_QID" ]; then
    rig_check "hold: postqueue -j shows $HOLD_QID in the hold queue" \
        rig_wait_for 10 _in_hold "$HOLD_QID"
    rig_check_decision hold "queue_id=$HOLD_QID" stage=eom \
        'mail_from=<carol@hold.example>' rcpts=1 rcpts_rejected=0 spf=pass \
        spf_domain=hold.example rule=hold action=quarantine reply="mxguard rule hold"
fi

# ---- 4. SPF pass: delivered with our A-R, forged ones removed ----------------
PASS_QID=""
if smtp_until_rcpt alice@pass.example bob@dest.example &&
   rig_eq "pass: RCPT accepted" 250 "$RIG_SMTP_CODE" &&
   smtp_data "$HERE/pass.eml"; then
    PASS_QID=$QID
    rig_pass "pass: message accepted as $PASS_QID"
else
    rig_fail "pass: message not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
if [ -n "$PASS_QID" ]; then
    rig_check_decision pass "queue_id=$PASS_QID" stage=eom client_addr=127.0.0.1 \
        helo=mx.client.example 'mail_from=<alice@pass.example>' rcpts=1 \
        rcpts_rejected=0 spf=pass spf_domain=pass.example spf_helo=pass \
        rule=default dry_run=- action=accept reply=-
    if rig_wait_for 15 _delivered "$PASS_QID"; then
        rig_pass "pass: $PASS_QID delivered to the sink"
    else
        rig_fail "pass: $PASS_QID not delivered to the sink within 15 s"
    fi
fi

# The delivered copy: the sink stored exactly one message (fail, temperror and
# hold delivered nothing).
rig_eq "sink received exactly one message" "$((before + 1))" "$(rig_sink_count)"
MSG=$(find "$RIG_SINK_DIR" -type f -name 'msg.*' | head -1)
if [ -n "$MSG" ]; then
    # Header block, unfolded (continuation lines joined with one space).
    awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
         { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$MSG" |
        tr -d '\r' > "$RIG_TMP/delivered.hdr"
    sed '1,/^\r\?$/d' "$MSG" | tr -d '\r' > "$RIG_TMP/delivered.body"
    ars=$(grep -i '^Authentication-Results:' "$RIG_TMP/delivered.hdr")
    rig_eq "pass: A-R headers after delivery" \
"Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=alice@pass.example; spf=pass smtp.helo=mx.client.example; dkim=none
Authentication-Results: other.example; spf=fail smtp.mailfrom=alice@pass.example
Authentication-Results: other.example (mx.rig.example); dkim=none" \
        "$(printf '%s\n' "$ars" | sed 's/[ \t][ \t]*/ /g')"
    # (comments removed, innermost first, before looking at the authserv-id)
    rig_eq "pass: our authserv-id appears once as an authserv-id" 1 \
        "$(sed -e ':a' -e 's/([^()]*)//g' -e 'ta' "$RIG_TMP/delivered.hdr" |
           grep -ciE '^Authentication-Results: *"?mx\.rig\.example"? *;')"
    # Ours on top: only trace headers added on the way (sink, Postfix) above it.
    above=$(awk '/^Authentication-Results: mx\.rig\.example;/ { exit } { print }' "$RIG_TMP/delivered.hdr")
    bad=$(printf '%s\n' "$above" | grep -vE '^(X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):|Received: from [^ ]+ \(.*\[127\.0\.0\.1\]\) by (mta|sink)\.rig\.example |Received: from mta\.rig\.example \(\[127\.0\.0\.1\]\) by sink\.rig\.example )' | grep -v '^$')
    rig_eq "pass: our A-R is above every header of the original message" "" "$bad"
    rig_check "pass: original headers kept (Received, From, Subject)" \
        grep -q '^Received: from somewhere.example by other.example' "$RIG_TMP/delivered.hdr"
    rig_check "pass: From kept" grep -q '^From: Alice <alice@pass.example>' "$RIG_TMP/delivered.hdr"
    rig_check "pass: body untouched (A-R look-alike line in the body kept)" \
        grep -qx 'Authentication-Results: mx.rig.example; this body line must stay' "$RIG_TMP/delivered.body"
    rig_check "pass: body dot line intact" grep -qx '.A line starting with a dot.' "$RIG_TMP/delivered.body"
else
    rig_fail "pass: no message in the sink"
fi

# ---- 5. DKIM: signed messages delivered with dkim=pass, a tampered one
#         refused at end of DATA by the dkim-fail rule --------------------
# (python3-dkim-signed fixtures; Postfix hands the milter header values
# verbatim with SMFIP_HDR_LEADSPC, folds as LF: simple/simple must pass too.)
DKIM_DATA="$TESTS_SRCDIR/data/dkim"
SIG="header.d=signer.example header.i=@signer.example header.s=sel2048 header.a=rsa-sha256"
declare -A DKIM_QID
for kind in relaxed simple; do
    DQID=""
    if smtp_until_rcpt alice@pass.example bob@dest.example &&
       rig_eq "dkim $kind: RCPT accepted" 250 "$RIG_SMTP_CODE" &&
       smtp_data "$DKIM_DATA/pass-$kind.eml"; then
        DQID=$QID
        DKIM_QID[$kind]=$QID
        rig_pass "dkim $kind: message accepted as $DQID"
    else
        rig_fail "dkim $kind: message not accepted ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
    fi
    rig_smtp_close
    [ -n "$DQID" ] || continue
    rig_check_decision "dkim-$kind" "queue_id=$DQID" stage=eom spf=pass \
        dkim=pass:signer.example rule=default action=accept
    if rig_wait_for 15 _delivered "$DQID"; then
        f=$(grep -l "id $DQID" "$RIG_SINK_DIR"/msg.* 2>/dev/null | head -1)
        ar=$(awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
                  { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$f" |
             tr -d '\r' | grep '^Authentication-Results: mx\.rig\.example;' | sed 's/[ \t][ \t]*/ /g')
        rig_eq "dkim $kind: A-R after delivery (up to header.b)" \
            "Authentication-Results: mx.rig.example; spf=pass smtp.mailfrom=alice@pass.example; spf=pass smtp.helo=mx.client.example; dkim=pass $SIG" \
            "${ar% header.b=*}"
        rig_check "dkim $kind: header.b has 8 characters of b= [${ar##* header.b=}]" \
            test "$(printf '%s' "${ar##* header.b=}" | tr -d '"' | wc -c)" -eq 8
    else
        rig_fail "dkim $kind: $DQID not delivered to the sink within 15 s"
    fi
done
if smtp_until_rcpt alice@pass.example bob@dest.example &&
   rig_eq "dkim tampered: RCPT accepted" 250 "$RIG_SMTP_CODE"; then
    smtp_data "$DKIM_DATA/body-altered.eml"
    rig_eq "dkim tampered: end of DATA reply" "550 5.7.20 DKIM signature did not verify" \
        "$RIG_SMTP_CODE $RIG_SMTP_TEXT"
else
    rig_fail "dkim tampered: SMTP session broke before DATA ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
rig_check_decision dkim-tampered dkim=fail:signer.example stage=eom 'mail_from=<alice@pass.example>' spf=pass \
    dkim=fail:signer.example rule=dkim-fail action=reject \
    reply="550 5.7.20 DKIM signature did not verify"

# The hold message is still there and was not delivered.
if [ -n "$HOLD_QID" ]; then
    rig_check "hold: $HOLD_QID still in the hold queue, not delivered" \
        bash -c "postqueue -c '$RIG_PF_CONF' -j | grep -q '\"queue_id\": *\"$HOLD_QID\"' &&
                 ! grep -q '$HOLD_QID: to=<.*status=sent' '$RIG_PF_DIR/maillog'"
fi

# Nothing else is queued (the fail and temperror sessions left nothing).
rig_eq "queue holds only the quarantined message" "${HOLD_QID:+1}" \
    "$(rig_postqueue_json | grep -c queue_id | sed 's/^0$//')"

# ---- 5b. everything is forwarded to the upstream (issue 14) ---------------
# A client on a private address (XCLIENT), an SPF record that needs the PTR
# of that address (ptr:) and an include: under test.: all served by the DNS
# server, in zones libunbound would answer NXDOMAIN by itself (then ptr:
# fails and the include: is a permerror).  (The private Postfix speaks IPv4
# only: the 2001:db8 PTR is tested in tests/unit/dns/test_dns.c.)
# forwarded_case LABEL ADDR FROM: RCPT accepted (SPF pass, not the spf-fail
# rule), message delivered, decision line spf=pass.
FWD_QIDS=""
forwarded_case() {
    local label=$1 addr=$2 from=$3 dom=${3#*@}
    QID=""
    if rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] &&
       rig_smtp_cmd "EHLO lan.client.example" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "XCLIENT ADDR=$addr NAME=[UNAVAILABLE]" && [ "$RIG_SMTP_CODE" = 220 ] &&
       rig_smtp_cmd "EHLO lan.client.example" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "MAIL FROM:<$from>" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "RCPT TO:<bob@dest.example>"; then
        rig_eq "forward $label: RCPT accepted (SPF pass; reply: $RIG_SMTP_TEXT)" 250 "$RIG_SMTP_CODE"
        if [ "$RIG_SMTP_CODE" = 250 ] && smtp_data "$HERE/pass.eml"; then
            FWD_QIDS="$FWD_QIDS $QID"
        fi
    else
        rig_fail "forward $label: SMTP session broke before RCPT ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
    fi
    rig_smtp_close
    if [ -n "$QID" ]; then
        rig_check_decision "forward-$label" "queue_id=$QID" stage=eom client_addr="$addr" \
            "mail_from=<$from>" spf=pass spf_domain="$dom" action=accept
        rig_check "forward $label: $QID delivered" rig_wait_for 15 _delivered "$QID"
    else
        rig_fail "forward $label: no message accepted"
    fi
}
forwarded_case ptr-192.168 192.168.1.5 lan@ptr4.example
forwarded_case include-.test 192.168.1.5 inc@incl.example

# ---- 6. mxguard explain on every message: the daemon's verdict -------------
# Same config, same DNS server, same message and envelope: explain's decision
# line must carry the daemon's values (tests/lib/explain.sh).
. "$TESTS_SRCDIR/lib/explain.sh"
# explain_e2e LABEL SELECTOR CLIENT FROM EML
explain_e2e() {
    rig_explain_compare "e2e-$1" "$(rig_decision_for "$2" | head -1)" "$RIG_TMP/mxguard.conf" \
        "$3" mx.client.example "$4" bob@dest.example "$5"
}
explain_e2e fail 'mail_from=<mallory@fail.example>' 127.0.0.1 mallory@fail.example "$HERE/pass.eml"
explain_e2e temperror 'mail_from=<tom@broken.example>' 127.0.0.1 tom@broken.example "$HERE/pass.eml"
explain_e2e dnsbl 'mail_from=<dan@nospf.example>' 192.0.2.66 dan@nospf.example "$HERE/pass.eml"
[ -n "$HOLD_QID" ] && explain_e2e hold "queue_id=$HOLD_QID" 127.0.0.1 carol@hold.example "$HERE/hold.eml"
[ -n "$PASS_QID" ] && explain_e2e pass "queue_id=$PASS_QID" 127.0.0.1 alice@pass.example "$HERE/pass.eml"
for kind in relaxed simple; do
    [ -n "${DKIM_QID[$kind]:-}" ] && explain_e2e "dkim-$kind" "queue_id=${DKIM_QID[$kind]}" 127.0.0.1 \
        alice@pass.example "$DKIM_DATA/pass-$kind.eml"
done
explain_e2e dkim-tampered dkim=fail:signer.example 127.0.0.1 alice@pass.example "$DKIM_DATA/body-altered.eml"

# mxguard summary over the daemon's log counts exactly these decisions.
"$MXGUARD" summary --format json "$RIG_MX_LOG" > "$RIG_TMP/summary.json" 2>&1
rig_eq "summary: decisions" "$(rig_decisions | wc -l)" "$(jq .decisions "$RIG_TMP/summary.json" 2>&1)"
for a in accept reject tempfail quarantine; do
    rig_eq "summary: action $a" "$(rig_decisions | grep -c " action=$a ")" \
        "$(jq ".actions.$a // 0" "$RIG_TMP/summary.json" 2>&1)"
done

rig_eq "one decision line per message" 10 "$(rig_decisions | wc -l)"
rig_check "Postfix logged no milter errors" \
    bash -c "! grep -qE 'warning:.*milter|Service unavailable' '$RIG_PF_DIR/maillog'"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log

rig_log "messages took $(( $(rig_now_ms) - T1 )) ms, total $(( $(rig_now_ms) - T0 )) ms"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# SMTP transcript:"; sed 's/^/#   /' "$RIG_TMP/smtp.log"
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -40
    echo "# Postfix log:"; sed 's/^/#   /' "$RIG_PF_DIR/maillog" | tail -40
fi
rig_finish
