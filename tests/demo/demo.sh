#!/bin/bash
# demo.sh - the mxguard demo, and the test that it does what it shows (run
# by make check; scripts/demo.sh runs it for people).  On 127.0.0.1 only:
# a DNS server with a small example zone (zone.conf: SPF, a DKIM key,
# _dmarc, a DNS block list), mxguard with the shipped conf/mxguard.conf
# (its dry-run rules made enforcing, plus policy.conf: authserv-id and one
# DNS list), a private Postfix with mxguard as its milter, and smtp-sink
# keeping what Postfix delivers.  Five messages, each from a client address
# claimed with XCLIENT (documentation addresses, never contacted):
#   1. authentic      SPF pass, DKIM-signed by signer.example: delivered
#   2. SPF fail       signer.example's sender from a host it does not list
#   3. DKIM broken    signed, body changed after signing: dkim=fail, which
#                     counts as no signature (RFC 6376 6.1; the shipped
#                     config has no rule on it), SPF aligns: delivered
#   4. DMARC spoof    From: signer.example (p=reject) via spoof.example
#   5. listed client  on the demo DNS block list
# Per message: the SMTP outcome, mxguard's decision line, the delivered
# copy's Authentication-Results.  Then, as tests: "mxguard explain" on the
# same message and envelope gives the daemon's decision line, and "mxguard
# summary" over the daemon's log counts exactly these decisions.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance).  It
# never writes /etc/postfix or /etc/resolv.conf and leaves nothing running.
# Set RIG_KEEP=1 to keep the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$TESTS_SRCDIR/lib/explain.sh"
rig_init demo
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/demo"
TOP="$TESTS_SRCDIR/.."
DKIM="$TESTS_SRCDIR/data/dkim"

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec jq "$(command -v jq || echo /usr/bin/jq)"

# ---- the rig: DNS, mxguard, sink, Postfix --------------------------------
rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
CONF="$RIG_TMP/mxguard.conf"
# The shipped config, pointed at the demo's socket and DNS server, its
# dry-run rules enforcing, changing to nobody when started as root
# (RIG_MX_PRIVS), plus the demo policy.
sed -e "s|^socket = .*|socket = \"unix:$SOCKET\";|" \
    -e "s|upstream = \"system\";|upstream = \"127.0.0.1@$RIG_DNS_PORT\";|" \
    -e "s|^syslog_facility = .*|syslog_facility = \"local5\";|" \
    -e "s|dry_run = true;|dry_run = false;|" \
    -e "s|^#user = \"mxguard\";|$RIG_MX_PRIVS|" \
    "$TOP/conf/mxguard.conf" > "$CONF"
cat "$HERE/policy.conf" >> "$CONF"
rig_check "the demo config (shipped config + demo policy) is valid" "$MXGUARD" -n -c "$CONF"
rig_start_mxguard "$CONF" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"
T1=$(rig_now_ms)
rig_log "setup took $((T1 - T0)) ms"

# Is DMARC built in (a dmarc key on the decision line), and does the shipped
# config have a rule on it?
HAVE_DMARC="" DMARC_RULE=""
"$MXGUARD" explain -c "$CONF" --client 192.0.2.10 --helo mail.signer.example \
    --mail-from alice@signer.example --rcpt bob@rcpt.example "$DKIM/pass-relaxed.eml" 2>/dev/null |
    grep -q '^decision .* dmarc=[a-z]' && HAVE_DMARC=1
grep -Eq '^[[:space:]]*match = \{[^}]*dmarc[a-z_]* =' "$CONF" && DMARC_RULE=1

# ---- sending -------------------------------------------------------------
# send N LABEL CLIENT HELO FROM RCPT EML: one SMTP session through Postfix
# (XCLIENT claims CLIENT); prints the outcome; sets OUTCOME ("RCPT 550 ...",
# "DATA 250 ..."), QID, DLINE (the decision line) and DELIVERED (the file).
N=0
declare -a LABELS CLIENTS HELOS FROMS RCPTS EMLS DLINES DELIVS
send() {
    local label=$1 client=$2 helo=$3 from=$4 rcpt=$5 eml=$6 sel
    N=$((N + 1))
    OUTCOME=""; QID=""; DLINE=""; DELIVERED=""
    printf '\n== %d. %s\n' "$N" "$label"
    printf '   client %s  HELO %s  MAIL FROM:<%s>  RCPT TO:<%s>  message %s\n' \
        "$client" "$helo" "$from" "$rcpt" "${eml#"$TESTS_SRCDIR/"}"
    if rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] &&
       rig_smtp_cmd "EHLO $helo" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "XCLIENT ADDR=$client NAME=[UNAVAILABLE]" && [ "$RIG_SMTP_CODE" = 220 ] &&
       rig_smtp_cmd "EHLO $helo" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "MAIL FROM:<$from>" && [ "$RIG_SMTP_CODE" = 250 ] &&
       rig_smtp_cmd "RCPT TO:<$rcpt>"; then
        if [ "$RIG_SMTP_CODE" != 250 ]; then
            OUTCOME="RCPT $RIG_SMTP_CODE $RIG_SMTP_TEXT"
            rig_smtp_cmd "RSET"
        elif rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] && rig_smtp_data "$eml"; then
            OUTCOME="DATA $RIG_SMTP_CODE $RIG_SMTP_TEXT"
            [[ $RIG_SMTP_TEXT =~ queued\ as\ ([0-9A-Za-z]+) ]] && QID=${BASH_REMATCH[1]}
        else
            OUTCOME="DATA $RIG_SMTP_CODE $RIG_SMTP_TEXT"
        fi
    else
        OUTCOME="broken $RIG_SMTP_CODE $RIG_SMTP_TEXT"
    fi
    rig_smtp_close
    printf '   SMTP:      %s\n' "$OUTCOME"
    # The decision line: by queue id when queued, else by sender (one each).
    if [ -n "$QID" ]; then sel="queue_id=$QID"; else sel="mail_from=<$from>"; fi
    rig_wait_decision "$sel" 10
    DLINE=$(rig_decision_for "$sel" | tail -1)
    printf '   decision:  %s\n' "${DLINE:-<none>}"
    if [ -n "$QID" ] && rig_wait_for 15 _delivered "$QID"; then
        DELIVERED=$(grep -l "id $QID" "$RIG_SINK_DIR"/msg.* 2>/dev/null | head -1)
        printf '   delivered: %s\n' "$(delivered_ar "$DELIVERED")"
    fi
    LABELS[N]=$label; CLIENTS[N]=$client; HELOS[N]=$helo; FROMS[N]=$from
    RCPTS[N]=$rcpt; EMLS[N]=$eml; DLINES[N]=$DLINE; DELIVS[N]=$DELIVERED
}
_delivered() { grep -q "$1: to=<.*status=sent" "$RIG_PF_DIR/maillog"; }
# delivered_ar FILE: our Authentication-Results of a delivered copy, unfolded.
delivered_ar() {
    awk '/^\r?$/ { exit } /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
         { if (h != "") print h; h = $0 } END { if (h != "") print h }' "$1" |
        tr -d '\r' | grep '^Authentication-Results: mx\.demo\.example;' | sed 's/[ \t][ \t]*/ /g'
}
# want_decision N KEY=VALUE...: the decision line of message N has these values.
want_decision() {
    local n=$1 kv k; shift
    if ! rig_parse_decision "${DLINES[n]}"; then
        rig_fail "message $n (${LABELS[n]}): no parsable decision line"
        return
    fi
    rig_eq "message $n: decision keys in order" "$RIG_DECISION_KEYS" "$RIG_D_KEYS"
    for kv in "$@"; do
        k=${kv%%=*}
        rig_eq "message $n: decision $k" "${kv#*=}" "${RIG_D[$k]-<absent>}"
    done
}

echo
echo "mxguard demo: Postfix on 127.0.0.1:$RIG_SMTP_PORT -> mxguard (conf/mxguard.conf, rules enforcing)"
echo "             -> smtp-sink; DNS: unbound on 127.0.0.1:$RIG_DNS_PORT serving tests/demo/zone.conf"

send "authentic: SPF pass, DKIM-signed by signer.example" \
    192.0.2.10 mail.signer.example alice@signer.example bob@rcpt.example "$DKIM/pass-relaxed.eml"
rig_match "1: delivered (250 at end of DATA)" '^DATA 250 ' "$OUTCOME"
want_decision 1 stage=eom spf=pass spf_domain=signer.example spf_helo=pass dkim=pass:signer.example \
    dnsbl_score=0 rule=default action=accept
rig_match "1: delivered copy has spf=pass and dkim=pass" \
    '^Authentication-Results: mx\.demo\.example; spf=pass smtp\.mailfrom=alice@signer\.example; spf=pass smtp\.helo=mail\.signer\.example; dkim=pass header\.d=signer\.example ' \
    "$(delivered_ar "${DELIVS[1]}")"

send "SPF fail: signer.example's address, sent from a host its SPF record does not list" \
    192.0.2.99 mx.other.example alice@signer.example bob@rcpt.example "$DKIM/pass-relaxed.eml"
rig_eq "2: refused at RCPT" "RCPT 550 5.7.23 SPF validation failed" "$OUTCOME"
want_decision 2 stage=rcpt spf=fail spf_domain=signer.example rcpts_rejected=1 rule=spf-fail action=reject

send "DKIM broken: signed by signer.example, body changed after signing (counts as unsigned)" \
    192.0.2.10 mail.signer.example alice@signer.example bob@rcpt.example "$DKIM/body-altered.eml"
rig_match "3: delivered (a failed signature counts as none, RFC 6376 6.1)" '^DATA 250 ' "$OUTCOME"
want_decision 3 stage=eom spf=pass dkim=fail:signer.example \
    dkim_reason="signer.example:body hash mismatch" rule=default action=accept
[ -n "$HAVE_DMARC" ] && want_decision 3 dmarc=pass dmarc_aligned=spf
rig_match "3: delivered copy has dkim=fail with its reason" \
    '; dkim=fail \(body hash mismatch\) header\.d=signer\.example ' "$(delivered_ar "${DELIVS[3]}")"

send "DMARC spoof: From: ceo@signer.example (p=reject), sent through spoof.example" \
    192.0.2.20 mx.spoof.example billing@spoof.example bob@rcpt.example "$HERE/spoof.eml"
if [ -n "$HAVE_DMARC" ] && [ -n "$DMARC_RULE" ]; then
    rig_match "4: refused (DMARC p=reject)" '^DATA 5[0-9][0-9] ' "$OUTCOME"
    want_decision 4 stage=eom spf=pass dkim=none dmarc=fail dmarc_policy=p:reject/reject \
        dmarc_aligned=none action=reject
elif [ -n "$HAVE_DMARC" ]; then
    echo "   (DMARC is checked, but the shipped config has no rule on it yet: accepted)"
    rig_match "4: accepted (no DMARC rule)" '^DATA 250 ' "$OUTCOME"
    want_decision 4 stage=eom spf=pass dkim=none dmarc=fail dmarc_policy=p:reject/reject \
        dmarc_aligned=none rule=default action=accept
else
    echo "   (this build has no DMARC check yet: SPF passes for spoof.example and the"
    echo "    message is unsigned, so nothing refuses it)"
    rig_match "4: accepted (no DMARC yet)" '^DATA 250 ' "$OUTCOME"
    want_decision 4 stage=eom spf=pass spf_domain=spoof.example dkim=none rule=default action=accept
fi

send "listed client: 192.0.2.66 is on the demo DNS block list" \
    192.0.2.66 mx.listed.example news@nospf.example bob@rcpt.example "$DKIM/unsigned.eml"
rig_eq "5: refused at RCPT with the list in the reply" \
    "RCPT 554 5.7.1 Service unavailable; client blocked using demo-bl" "$OUTCOME"
want_decision 5 stage=rcpt spf=none dnsbl_score=5 dnsbl=demo-bl:127.0.0.2 rule=dnsbl action=reject

# ---- explain: the same verdict as the daemon, message by message ---------
echo
echo "== mxguard explain on the same messages (same config, same DNS server):"
for i in $(seq 1 "$N"); do
    rig_explain_compare "demo-$i" "${DLINES[i]}" "$CONF" "${CLIENTS[i]}" "${HELOS[i]}" \
        "${FROMS[i]}" "${RCPTS[i]}" "${EMLS[i]}"
    if [ -n "${DELIVS[i]}" ]; then
        rig_eq "explain demo-$i: its A-R equals the delivered copy's" \
            "$(delivered_ar "${DELIVS[i]}")" "$RIG_EXPLAIN_AR"
    fi
done
echo
echo "== for example, message 4: mxguard explain -c mxguard.conf --client 192.0.2.20 \\"
echo "       --helo mx.spoof.example --mail-from billing@spoof.example --rcpt bob@rcpt.example spoof.eml"
sed 's/^/   /' "$RIG_TMP/explain-demo-4.out"

# ---- summary: counts equal the decisions made ----------------------------
echo
echo "== mxguard summary over mxguard's log:"
"$MXGUARD" summary "$RIG_MX_LOG" | sed 's/^/   /'
if "$MXGUARD" summary --format json "$RIG_MX_LOG" > "$RIG_TMP/summary.json" &&
   jq -e . "$RIG_TMP/summary.json" > /dev/null; then
    rig_pass "summary --format json is valid JSON"
else
    rig_fail "summary --format json: not valid JSON: $(head -c 300 "$RIG_TMP/summary.json")"
fi
rig_eq "summary: decisions" "$N" "$(jq .decisions "$RIG_TMP/summary.json")"
rig_eq "summary: malformed" 0 "$(jq .malformed "$RIG_TMP/summary.json")"
# Expected counts, from the daemon's own lines (parsed by rig.sh, not by mxguard).
declare -A WANT_ACTION WANT_RULE
for i in $(seq 1 "$N"); do
    rig_parse_decision "${DLINES[i]}" || continue
    WANT_ACTION[${RIG_D[action]}]=$(( ${WANT_ACTION[${RIG_D[action]}]:-0} + 1 ))
    WANT_RULE[${RIG_D[rule]}]=$(( ${WANT_RULE[${RIG_D[rule]}]:-0} + 1 ))
done
for a in "${!WANT_ACTION[@]}"; do
    rig_eq "summary: action $a" "${WANT_ACTION[$a]}" "$(jq ".actions.\"$a\"" "$RIG_TMP/summary.json")"
done
rig_eq "summary: as many actions as the daemon's lines" "${#WANT_ACTION[@]}" \
    "$(jq '.actions | length' "$RIG_TMP/summary.json")"
for r in "${!WANT_RULE[@]}"; do
    rig_eq "summary: rule $r fired" "${WANT_RULE[$r]}" "$(jq ".rules.fired.\"$r\"" "$RIG_TMP/summary.json")"
done
rig_eq "summary: reject sender domains" '{"nospf.example":1,"signer.example":1}' \
    "$(jq -c '.sender_domains.reject | with_entries(select(.key != "spoof.example"))' "$RIG_TMP/summary.json")"
if [ -n "$HAVE_DMARC" ]; then
    rig_eq "summary: From domains of the rejected messages (DMARC spoof)" 1 \
        "$(jq '.from_domains.reject."signer.example"' "$RIG_TMP/summary.json")"
fi
rig_eq "summary --rule spf-fail counts one decision" 1 \
    "$("$MXGUARD" summary --rule spf-fail --format json "$RIG_MX_LOG" | jq .decisions)"

# ---- stop: nothing left running --------------------------------------------
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
rig_check "Postfix logged no milter errors" \
    bash -c "! grep -qE 'warning:.*milter' '$RIG_PF_DIR/maillog'"
rig_log "messages took $(( $(rig_now_ms) - T1 )) ms, total $(( $(rig_now_ms) - T0 )) ms"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# SMTP transcript:"; sed 's/^/#   /' "$RIG_TMP/smtp.log" | tail -60
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -40
fi
rig_finish
