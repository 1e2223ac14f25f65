#!/bin/bash
# miltertest.sh - integration test: the built mxguard daemon on a unix
# socket, driven by Debian's miltertest (Lua scripts in this directory), with
# a private DNS server (unbound on 127.0.0.1, zone.conf) as its upstream.
# Checks the milter replies at each stage, the A-R header inserted and the
# forged ones deleted, the quarantine, and the decision line of every
# message (key order and values).
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# MILTERTEST, UNBOUND_SERVER.  Set RIG_KEEP=1 to keep the temporary files.
# Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init integration
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/integration"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"

rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # TMP and DNS_PORT are used through RIG_SUBST_VARS
TMP=$RIG_TMP
# shellcheck disable=SC2034
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET TMP DNS_PORT"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"

NMSG=0   # messages sent: each must have exactly one decision line

# run_mt LABEL SCRIPT [NAME=VALUE...]: run one miltertest script (bounded).
run_mt() {
    local label=$1 script=$2 out="$RIG_TMP/mt-$1.out" t0 ms kv args=()
    shift 2
    for kv in "$@"; do args+=(-D "$kv"); done
    t0=$(rig_now_ms)
    if timeout 60 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" \
        "${args[@]}" -s "$HERE/$script" > "$out" 2>&1 && grep -qx PASS "$out"; then
        ms=$(( $(rig_now_ms) - t0 ))
        rig_pass "miltertest $label ($script, ${ms} ms)"
    else
        rig_fail "miltertest $label ($script): $(tail -3 "$out" | tr '\n' ' ')"
    fi
    LAST_MS=$(( $(rig_now_ms) - t0 ))
}

PASS_AR="mx.rig.example; spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example"

# 1. SPF pass: accepted, A-R spf=pass for MAIL FROM and HELO.
run_mt pass accept.lua IP=192.0.2.10 HOST=mx.client.example HELO=mx.client.example \
    QID=QPASS FROM="<user@pass.example>" AR_WANT="$PASS_AR"
NMSG=$((NMSG + 1))
rig_check_decision pass queue_id=QPASS stage=eom queue_id=QPASS \
    client_addr=192.0.2.10 client_name=mx.client.example helo=mx.client.example \
    mail_from="<user@pass.example>" rcpts=1 rcpts_rejected=0 spf=pass \
    spf_domain=pass.example spf_helo=pass rule=default dry_run=- action=accept \
    reply=- 'elapsed_ms=~^[0-9]+$'

# 2. SPF fail + reject rule: refused at RCPT; then a pass message on the
#    same connection.
run_mt fail fail.lua QID=QFAIL QID2=QFAIL2
NMSG=$((NMSG + 2))
rig_check_decision fail queue_id=QFAIL stage=rcpt mail_from="<user@fail.example>" \
    rcpts=0 rcpts_rejected=1 spf=fail spf_domain=fail.example spf_helo=pass \
    rule=spf-fail dry_run=- action=reject reply="550 5.7.23 SPF validation failed"
rig_check_decision fail-then-pass queue_id=QFAIL2 stage=eom \
    mail_from="<user@pass.example>" rcpts=1 rcpts_rejected=0 spf=pass \
    spf_domain=pass.example rule=default action=accept reply=-

# 3. SPF temperror (server refuses broken.example) + tempfail rule.
run_mt temperror tempfail.lua QID=QTEMP
NMSG=$((NMSG + 1))
rig_check "temperror answered within 2.5 s (DNS timeout 2 s), took ${LAST_MS} ms" \
    test "$LAST_MS" -lt 2500
rig_check_decision temperror queue_id=QTEMP stage=rcpt mail_from="<user@broken.example>" \
    rcpts=0 rcpts_rejected=1 spf=temperror spf_domain=broken.example rule=spf-temp \
    action=tempfail reply="451 4.4.3 SPF temporary error, try again later"

# 4. SPF softfail + quarantine rule with a reason.
run_mt softfail softfail.lua QID=QSOFT
NMSG=$((NMSG + 1))
rig_check_decision softfail queue_id=QSOFT stage=eom mail_from="<user@soft.example>" \
    rcpts=1 rcpts_rejected=0 spf=softfail spf_domain=soft.example rule=spf-soft \
    dry_run=- action=quarantine reply="SPF softfail held for review"

# 5. Forged A-R headers with our authserv-id are deleted, others kept.
run_mt forged forged.lua QID=QFORGED
NMSG=$((NMSG + 1))
rig_check_decision forged queue_id=QFORGED stage=eom spf=pass action=accept rule=default

# 5b. The MTA's name ({j}) does not override authserv_id from the config.
run_mt mtaname mtaname.lua QID=QMTANAME J=mta.other.example
NMSG=$((NMSG + 1))
rig_check_decision mtaname queue_id=QMTANAME stage=eom spf=pass action=accept rule=default

# 6. Per-recipient refusal by rcpt_domain, the rest of the message accepted.
run_mt multi multi.lua QID=QMULTI
NMSG=$((NMSG + 1))
rig_check_decision multi queue_id=QMULTI stage=eom rcpts=2 rcpts_rejected=2 \
    spf=pass rule=default dry_run=- action=accept reply=-

# 7. A dry-run rule (reject on neutral) is logged, the message accepted.
run_mt dryrun accept.lua IP=192.0.2.10 HOST=mx.client.example HELO=mx.client.example \
    QID=QDRY FROM="<user@neutral.example>" \
    AR_WANT="mx.rig.example; spf=neutral smtp.mailfrom=user@neutral.example; spf=pass smtp.helo=mx.client.example"
NMSG=$((NMSG + 1))
rig_check_decision dryrun queue_id=QDRY stage=eom spf=neutral spf_domain=neutral.example \
    rule=default dry_run=dry-neutral action=accept reply=-

# 8. permerror and none reach the default rule.
run_mt permerror accept.lua IP=192.0.2.10 HOST=mx.client.example HELO=mx.client.example \
    QID=QPERM FROM="<user@perm.example>" \
    AR_WANT="mx.rig.example; spf=permerror smtp.mailfrom=user@perm.example; spf=pass smtp.helo=mx.client.example"
NMSG=$((NMSG + 1))
rig_check_decision permerror queue_id=QPERM spf=permerror spf_domain=perm.example action=accept
run_mt none accept.lua IP=192.0.2.10 HOST=mx.client.example HELO=mx.client.example \
    QID=QNONE FROM="<user@nospf.example>" \
    AR_WANT="mx.rig.example; spf=none smtp.mailfrom=user@nospf.example; spf=pass smtp.helo=mx.client.example"
NMSG=$((NMSG + 1))
rig_check_decision none queue_id=QNONE spf=none spf_domain=nospf.example action=accept

# 9. Null sender: MAIL FROM identity is postmaster@HELO.
run_mt nullsender accept.lua IP=192.0.2.10 HOST=mx.client.example HELO=mx.client.example \
    QID=QNULL FROM="<>" \
    AR_WANT="mx.rig.example; spf=pass smtp.mailfrom=postmaster@mx.client.example; spf=pass smtp.helo=mx.client.example"
NMSG=$((NMSG + 1))
rig_check_decision nullsender queue_id=QNULL mail_from="<>" spf=pass \
    spf_domain=mx.client.example spf_helo=pass action=accept

# 10. Trusted client (trusted_networks) with an SPF-fail sender: SPF not
#     evaluated, not rejected, A-R "none".
run_mt trusted accept.lua IP=203.0.113.5 HOST=relay.client.example HELO=relay.client.example \
    QID=QTRUST FROM="<user@fail.example>" AR_WANT="mx.rig.example; none"
NMSG=$((NMSG + 1))
rig_check_decision trusted queue_id=QTRUST client_addr=203.0.113.5 spf=- spf_domain=- \
    spf_helo=- rule=default action=accept

# 11. SASL-authenticated client: SPF not evaluated.
run_mt auth auth.lua QID=QAUTH
NMSG=$((NMSG + 1))
rig_check_decision auth queue_id=QAUTH client_addr=198.51.100.99 spf=- spf_helo=- \
    rule=default action=accept

# DNS lists. A client on bl.example (weight 5) is refused at RCPT (before
# DATA) by the dnsbl_score rule, with the list and its TXT in the reply.
run_mt dnsbl-listed dnsbl.lua IP=192.0.2.66 QID=QDNSBL
NMSG=$((NMSG + 1))
rig_check_decision dnsbl-listed queue_id=QDNSBL stage=rcpt client_addr=192.0.2.66 \
    rcpts=0 rcpts_rejected=1 dnsbl_score=5 dnsbl=bl:127.0.0.2 rule=dnsbl-block action=reject \
    reply="554 5.7.1 Service unavailable; client blocked using bl: Listed by the rig, see https://bl.example/192.0.2.66"
# On bl.example and on the allow-list wl.example (-10): accepted, the
# lists show in the A-R comment and on the decision line.
run_mt dnsbl-allowed accept.lua IP=192.0.2.77 HOST=allowed.client.example HELO=mx.client.example \
    QID=QDNSWL FROM="<user@nospf.example>" \
    AR_WANT="mx.rig.example; spf=none smtp.mailfrom=user@nospf.example; spf=fail smtp.helo=mx.client.example (dnsbl score=-5 listed=bl:127.0.0.2,wl:127.0.0.10)"
NMSG=$((NMSG + 1))
rig_check_decision dnsbl-allowed queue_id=QDNSWL stage=eom client_addr=192.0.2.77 \
    dnsbl_score=-5 dnsbl=bl:127.0.0.2,wl:127.0.0.10 rule=default action=accept
# Not listed: score 0; a trusted client: nothing queried.
rig_check_decision dnsbl-clean queue_id=QPASS dnsbl_score=0 dnsbl=-
rig_check_decision dnsbl-trusted queue_id=QTRUST dnsbl_score=- dnsbl=-
# SASL-authenticated: the connect-time result is disregarded.
rig_check_decision dnsbl-auth queue_id=QAUTH dnsbl_score=- dnsbl=-

# 12. Decision-line quoting: a HELO with a space and a quote.
run_mt quoting accept.lua IP=192.0.2.10 HOST=mx.client.example 'HELO=bad helo"x' \
    QID=QQUOTE FROM="<user@pass.example>" AR_WANT="*"
NMSG=$((NMSG + 1))
rig_check_decision quoting queue_id=QQUOTE 'helo=bad helo"x' spf=pass action=accept
rig_check "quoting: helo is written as \"bad helo\\\"x\"" \
    grep -qF ' helo="bad helo\"x" ' "$RIG_MX_LOG"

# Exactly one decision line per message, nothing else.
# mxguard explain on every message above: same config, DNS server and
# envelope (read back from the daemon's own line), a message with the Lua
# scripts' standard headers; its decision line must equal the daemon's.
. "$TESTS_SRCDIR/lib/explain.sh"
while IFS= read -r dl; do
    rig_parse_decision "$dl" || { rig_fail "explain: daemon line does not parse: $dl"; continue; }
    qid=${RIG_D[queue_id]} client=${RIG_D[client_addr]} helo=${RIG_D[helo]} from=${RIG_D[mail_from]}
    from=${from#<}; from=${from%>}
    rcpts=rcpt@dest.example extra=()
    case $qid in
        QMULTI) rcpts=ok1@dest.example,x@blocked.example,y@sub.BLOCKED.example,ok2@dest.example ;;
        QAUTH) extra=(--auth-user alice) ;;
    esac
    printf 'From: %s\nTo: rcpt@dest.example\nSubject: %s\nMessage-ID: <%s@client.example>\n\nbody\n' \
        "${from:-postmaster@client.example}" "$qid" "$qid" > "$RIG_TMP/explain-$qid.eml"
    rig_explain_compare "mt-$qid" "$dl" "$RIG_TMP/mxguard.conf" "$client" "$helo" "$from" "$rcpts" \
        "$RIG_TMP/explain-$qid.eml" "${extra[@]}"
done < <(rig_decisions)

rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"

# SIGTERM stops the daemon cleanly.
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log

rig_log "took $(( $(rig_now_ms) - T0 )) ms"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -60
fi
rig_finish
