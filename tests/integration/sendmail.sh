#!/bin/bash
# sendmail.sh - integration test of the MTA macro sets and their timing:
# the built mxguard daemon driven by Debian's miltertest with the macros
# Sendmail sends by default ({i} at MAIL only, {msg_id} at end of message,
# j _ {daemon_name} at connect), and with {i} arriving only at RCPT (Postfix),
# only at end of headers, only at end of message, or never.  For each, the
# decision line of both messages on the connection carries the right
# queue_id (never the previous message's), and the A-R header is the same as
# with Postfix.  A message refused at RCPT under Sendmail's timing is logged
# with its queue id.  A missing {i} is reported once, with the fix.
# (The real Sendmail, with its default macros only, is in
# tests/e2e/sendmail.sh.)
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# MILTERTEST, UNBOUND_SERVER.  RIG_KEEP=1 keeps the temporary files.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init sendmail
HERE="$TESTS_SRCDIR/integration"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"

# The daemon and zone of miltertest.sh (read only).
rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # TMP and DNS_PORT are used through RIG_SUBST_VARS
TMP=$RIG_TMP
# shellcheck disable=SC2034
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET TMP DNS_PORT"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"

NMSG=0
# run_mt LABEL SCRIPT [NAME=VALUE...]
run_mt() {
    local label=$1 script=$2 out="$RIG_TMP/mt-$1.out" kv args=()
    shift 2
    for kv in "$@"; do args+=(-D "$kv"); done
    if timeout 60 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" \
        "${args[@]}" -s "$HERE/$script" > "$out" 2>&1 && grep -qx PASS "$out"; then
        rig_pass "miltertest $label ($script)"
    else
        rig_fail "miltertest $label ($script): $(tail -3 "$out" | tr '\n' ' ')"
    fi
}

AR="mx.rig.example; spf=pass smtp.mailfrom=%s@pass.example; spf=pass smtp.helo=mx.client.example"
# mode LABEL MODE QID QID2 [AUTH]: one connection, two messages.
mode() {
    local label=$1 m=$2 qid=$3 qid2=$4 auth=${5:-} ar
    # shellcheck disable=SC2059
    ar=$(printf "$AR" "$label")
    [ -n "$auth" ] && ar="mx.rig.example; none"
    run_mt "$label" sendmail.lua MODE="$m" IP=192.0.2.10 HOST=mx.client.example \
        HELO=mx.client.example QID="$qid" QID2="$qid2" FROM="<$label@pass.example>" \
        AR_WANT="$ar" AUTH="$auth"
    NMSG=$((NMSG + 2))
}

# Sendmail's defaults: {i} at MAIL only.
mode sendmail sendmail SMQ1 SMQ2
rig_check_decision sendmail "mail_from=<sendmail@pass.example>" stage=eom queue_id=SMQ1 \
    client_addr=192.0.2.10 client_name=mx.client.example helo=mx.client.example \
    rcpts=1 spf=pass spf_domain=pass.example spf_helo=pass rule=default action=accept
rig_check_decision sendmail-2nd queue_id=SMQ2 stage=eom mail_from="<second@pass.example>" \
    spf=pass action=accept
# Sendmail with SASL ({auth_authen} at MAIL): SPF not evaluated.
mode sendmailauth sendmail SMQA1 SMQA2 alice
rig_check_decision sendmail-auth "mail_from=<sendmailauth@pass.example>" queue_id=SMQA1 \
    spf=- spf_helo=- action=accept
# Postfix: {i} from RCPT on.
mode postfix postfix PFQ1 PFQ2
rig_check_decision postfix "mail_from=<postfix@pass.example>" queue_id=PFQ1 spf=pass action=accept
rig_check_decision postfix-2nd queue_id=PFQ2 mail_from="<second@pass.example>"
# {i} only at end of headers / end of message.
mode eoh eoh EHQ1 EHQ2
rig_check_decision eoh "mail_from=<eoh@pass.example>" queue_id=EHQ1 spf=pass action=accept
rig_check_decision eoh-2nd queue_id=EHQ2 mail_from="<second@pass.example>"
mode eom eom EMQ1 EMQ2
rig_check_decision eom "mail_from=<eom@pass.example>" queue_id=EMQ1 spf=pass action=accept
rig_check_decision eom-2nd queue_id=EMQ2 mail_from="<second@pass.example>"
# No {i} at all: the message is handled all the same, queue_id is "-".
rig_eq "no warning about {i} before a message without it" 0 \
    "$(grep -c 'sent no queue id macro' "$RIG_MX_LOG")"
mode none none NOQ1 NOQ2
rig_check_decision none "mail_from=<none@pass.example>" queue_id=- spf=pass action=accept
rig_eq "none: the second message has queue_id=- too" 1 \
    "$(rig_decisions | grep -c ' queue_id=- .* mail_from=<second@pass.example> ')"
rig_eq "missing {i}: one warning that names the fix" 1 \
    "$(grep -c 'sent no queue id macro {i}.*milter_end_of_data_macros.*confMILTER_MACROS_ENVFROM' "$RIG_MX_LOG")"

# Refused at RCPT under Sendmail's timing: the queue id is already known.
run_mt sendmail-reject sendmail-reject.lua QID=SMREJ
NMSG=$((NMSG + 1))
rig_check_decision sendmail-reject queue_id=SMREJ stage=rcpt mail_from="<user@fail.example>" \
    rcpts=0 rcpts_rejected=1 spf=fail rule=spf-fail action=reject \
    reply="550 5.7.23 SPF validation failed"

rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -40
fi
rig_finish
