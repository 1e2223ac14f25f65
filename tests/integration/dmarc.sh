#!/bin/bash
# dmarc.sh - integration test of DMARC (RFC 9989): the built mxguard daemon
# with SPF and DMARC on, driven by Debian's miltertest (dmarc.lua), SPF and
# DMARC records served by the private test DNS server (dmarc-zone.conf).
# Checks the EOM verdict, our A-R header (dmarc=) and the decision line.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# MILTERTEST, UNBOUND_SERVER.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init dmarc
HERE="$TESTS_SRCDIR/integration"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"

rig_start_dns "$HERE/dmarc-zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
rig_subst "$HERE/mxguard-dmarc.conf.in" "$RIG_TMP/mxguard.conf"
rig_start_mxguard "$RIG_TMP/mxguard.conf" "$SOCKET"

NMSG=0
# run_dmarc LABEL QID MAILFROM FROM1 FROM2 RCPT WANT [AR_WANT]
run_dmarc() {
    local label=$1 out="$RIG_TMP/mt-$1.out"
    if timeout 60 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" -D QID="$2" -D MAILFROM="$3" \
        -D FROM1="$4" -D FROM2="$5" -D RCPT="$6" -D WANT="$7" -D AR_WANT="${8:-*}" \
        -s "$HERE/dmarc.lua" > "$out" 2>&1 && grep -qx PASS "$out"; then
        rig_pass "miltertest $label"
    else
        rig_fail "miltertest $label: $(tail -3 "$out" | tr '\n' ' ')"
    fi
    NMSG=$((NMSG + 1))
}

# 1. SPF pass with an aligned MAIL FROM (a subdomain: relaxed): dmarc=pass.
run_dmarc pass QMPASS alice@bounce.pass.example "Alice <alice@pass.example>" "" rcpt@dest.example accept \
    "mx.rig.example; spf=pass smtp.mailfrom=alice@bounce.pass.example; dmarc=pass (p=reject applied=none) header.from=pass.example"
rig_check_decision pass queue_id=QMPASS spf=pass dmarc=pass dmarc_policy=p:reject/none dmarc_aligned=spf \
    rule=default action=accept

# 2. Spoofed From of a p=reject domain (SPF passes for another domain):
#    rejected with the configured reply.
run_dmarc spoof QMSPOOF bob@other.example "CEO <ceo@reject.example>" "" rcpt@dest.example reject
rig_check_decision spoof queue_id=QMSPOOF spf=pass dmarc=fail dmarc_policy=p:reject/reject dmarc_aligned=none \
    rule=dmarc-reject action=reject reply="550 5.7.1 DMARC policy of the From domain"

# 3. p=quarantine: held, with our A-R saying why.
run_dmarc quarantine QMQUAR bob@other.example "x@quar.example" "" rcpt@dest.example quarantine \
    "mx.rig.example; spf=pass smtp.mailfrom=bob@other.example; dmarc=fail (p=quarantine applied=quarantine) header.from=quar.example"
rig_check_decision quarantine queue_id=QMQUAR dmarc=fail dmarc_policy=p:quarantine/quarantine \
    rule=dmarc-quarantine action=quarantine reply="DMARC quarantine"

# 4. Two From header fields, the second a p=reject domain: never skipped,
#    dmarc=permerror (from=multiple), refused by the from-header rule.
run_dmarc twofrom QMTWO alice@bounce.pass.example "alice@pass.example" "ceo@reject.example" rcpt@dest.example reject
rig_check_decision twofrom queue_id=QMTWO dmarc=permerror dmarc_policy=- rule=from-header action=reject \
    reply="550 5.7.1 Message needs exactly one From address"

# 5. t=y: p=reject applied as quarantine.
run_dmarc testing QMTEST bob@other.example "x@testing.example" "" rcpt@dest.example quarantine \
    "mx.rig.example; spf=pass smtp.mailfrom=bob@other.example; dmarc=fail (p=reject applied=quarantine) header.from=testing.example"
rig_check_decision testing queue_id=QMTEST dmarc=fail dmarc_policy=p:reject/quarantine rule=dmarc-quarantine

# 6. The DNS server refuses: temperror, deferred.
run_dmarc temperror QMTEMP bob@other.example "x@mail.slow.example" "" rcpt@dest.example tempfail
rig_check_decision temperror queue_id=QMTEMP dmarc=temperror rule=dmarc-temp action=tempfail \
    reply="451 4.7.5 DMARC lookup failed, try again later"

# 7. Per-recipient override: the spoof of 2. to postmaster@ is accepted.
run_dmarc postmaster QMPM bob@other.example "CEO <ceo@reject.example>" "" postmaster@dest.example accept "*"
rig_check_decision postmaster queue_id=QMPM dmarc=fail dmarc_policy=p:reject/reject rule=postmaster action=accept

# 8. No DMARC record: dmarc=none, accepted.
run_dmarc none QMNONE bob@other.example "bob@other.example" "" rcpt@dest.example accept \
    "mx.rig.example; spf=pass smtp.mailfrom=bob@other.example; dmarc=none header.from=other.example"
rig_check_decision none queue_id=QMNONE dmarc=none dmarc_policy=- dmarc_aligned=spf rule=default

rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -40
fi
rig_finish
