#!/bin/bash
# dkim.sh - integration test of DKIM verification: the built mxguard daemon
# with DKIM on, driven by Debian's miltertest (dkim.lua) with messages
# signed by python3-dkim (tests/data/dkim) and the RFC 8463 example, keys
# served by the private test DNS server (dkim-zone.conf).  Checks the EOM
# verdict, our A-R header (dkim= per signature) and the decision line.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# MILTERTEST, UNBOUND_SERVER.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init dkim
HERE="$TESTS_SRCDIR/integration"
DATA="$TESTS_SRCDIR/data/dkim"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"

rig_start_dns "$HERE/dkim-zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/mxguard-dkim.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"

NMSG=0
# run_dkim LABEL FILE QID WANT [AR_WANT]
run_dkim() {
    local label=$1 out="$RIG_TMP/mt-$1.out"
    if timeout 60 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" -D MSG="$DATA/$2" \
        -D QID="$3" -D WANT="$4" -D AR_WANT="${5:-*}" -s "$HERE/dkim.lua" > "$out" 2>&1 &&
        grep -qx PASS "$out"; then
        rig_pass "miltertest $label ($2)"
    else
        rig_fail "miltertest $label ($2): $(tail -3 "$out" | tr '\n' ' ')"
    fi
    NMSG=$((NMSG + 1))
}

SIG="header.d=signer.example header.i=@signer.example header.s=sel2048 header.a=rsa-sha256"

# 1. Signed by python3-dkim, relaxed/relaxed: pass.
run_dkim pass pass-relaxed.eml QDPASS accept "mx.rig.example; dkim=pass $SIG header.b=MbcLp8NR"
rig_check_decision pass queue_id=QDPASS stage=eom spf=- dkim=pass:signer.example \
    rule=dkim-signer action=accept reply=-

# 2. simple/simple, headers with their exact white space: pass.
run_dkim simple pass-simple.eml QDSIMPLE accept "*"
rig_check_decision simple queue_id=QDSIMPLE dkim=pass:signer.example rule=dkim-signer

# 3. RFC 8463 A.3: ed25519-sha256 and rsa-sha256, both pass.
run_dkim rfc8463 rfc8463-A3-signed.eml QDRFC accept \
    "mx.rig.example; dkim=pass header.d=football.example.com header.i=@football.example.com header.s=brisbane header.a=ed25519-sha256 header.b=\"9/dsDChY\"; dkim=pass header.d=football.example.com header.i=@football.example.com header.s=test header.a=rsa-sha256 header.b=icKcLSEZ"
rig_check_decision rfc8463 queue_id=QDRFC dkim=pass:football.example.com,pass:football.example.com \
    rule=default action=accept

# 4. Body altered after signing: the dkim-fail rule rejects at EOM.
run_dkim tampered body-altered.eml QDBODY reject
rig_check_decision tampered queue_id=QDBODY stage=eom dkim=fail:signer.example rule=dkim-fail \
    action=reject reply="550 5.7.20 DKIM signature did not verify"

# 5. Header altered: rejected too.
run_dkim header header-altered.eml QDHDR reject
rig_check_decision header queue_id=QDHDR dkim=fail:signer.example rule=dkim-fail action=reject

# 6. Two signatures, one good one bad: pass for signer.example.
run_dkim two two-sigs.eml QDTWO accept "*"
rig_check_decision two queue_id=QDTWO dkim=pass:signer.example,fail:other.example rule=dkim-signer

# 7. No key published: permerror, not rejected by the fail rule.
run_dkim nokey nokey.eml QDNOKEY accept "*"
rig_check_decision nokey queue_id=QDNOKEY dkim=permerror:signer.example rule=default action=accept

# 8. l= with a footer appended: pass, the dry-run rule sees it.
run_dkim partial length-appended.eml QDLEN accept "*"
rig_check_decision partial queue_id=QDLEN dkim=pass+l:signer.example dry_run=dkim-partial \
    rule=dkim-signer

# 9. Unsigned: dkim=none in A-R and the decision line.
run_dkim unsigned unsigned.eml QDNONE accept "mx.rig.example; dkim=none"
rig_check_decision unsigned queue_id=QDNONE dkim=none rule=default action=accept

# 10. 512-bit key below min_key_bits: policy.
run_dkim smallkey small-key.eml QDSMALL accept "*"
rig_check_decision smallkey queue_id=QDSMALL dkim=policy:signer.example rule=default

# mxguard explain on every message above (same config, DNS server, message
# and envelope as dkim.lua): the daemon's decision line (tests/lib/explain.sh).
. "$TESTS_SRCDIR/lib/explain.sh"
for m in QDPASS:pass-relaxed QDSIMPLE:pass-simple QDRFC:rfc8463-A3-signed QDBODY:body-altered \
         QDHDR:header-altered QDTWO:two-sigs QDNOKEY:nokey QDLEN:length-appended QDNONE:unsigned \
         QDSMALL:small-key; do
    rig_explain_compare "dkim-${m#*:}" "$(rig_decision_for "queue_id=${m%%:*}" | head -1)" \
        "$RIG_TMP/mxguard.conf" 192.0.2.10 mx.client.example alice@signer.example rcpt@dest.example \
        "$DATA/${m#*:}.eml"
done

rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -40
fi
rig_finish
