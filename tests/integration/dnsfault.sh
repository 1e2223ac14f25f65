#!/bin/bash
# dnsfault.sh - fault test: the DNS upstream misbehaves (tests/lib/faultdns.py
# on 127.0.0.1) in four ways, and every message still gets its verdict in
# bounded time:
#   down             nothing listens on the upstream's port
#   slow             every answer comes 3 x the DNS timeout late
#   servfail         every answer is SERVFAIL
#   truncated        every UDP answer has TC=1; TCP connections are closed
#   truncated-notcp  TC=1 over UDP and nothing listens on TCP
# For each mode, two configurations (one daemon, reloaded with SIGHUP from
# one to the next), driven by miltertest (dnsfault.lua):
#   1. the shipped conf/mxguard.conf (only the socket, the upstream and the
#      timeouts changed, two DNS lists added): SPF temperror for MAIL FROM
#      and HELO, the lists not listed (score 0: a list that fails counts as
#      not listed, mxguard.conf(5)), and the shipped spf-temperror rule
#      defers at RCPT with "451 4.7.24";
#   2. mxguard-dnsfault.conf.in (SPF temperror only dry-run): a DKIM-signed
#      message reaches end of message, dkim=temperror, dmarc=temperror, and
#      the dkim-temperror rule defers it with "451 4.7.5".
# Each message must be answered within 3 x DNS timeout + the DMARC budget
# + 5 s (wall time of the whole miltertest run, and elapsed_ms of the
# decision line); a hang fails the test.
#
# Environment (TESTS_ENVIRONMENT): MXGUARD, TESTS_SRCDIR, MILTERTEST.
# Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init dnsfault
HERE="$TESTS_SRCDIR/integration"
SHIPPED="$TESTS_SRCDIR/../conf/mxguard.conf"
MSG="$TESTS_SRCDIR/data/dkim/pass-relaxed.eml"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec python3 /usr/bin/python3
[ -r "$SHIPPED" ] || rig_die "shipped config $SHIPPED not readable"

DNS_TIMEOUT_MS=500
DMARC_TIMEOUT_MS=1000
BOUND_MS=$((3 * DNS_TIMEOUT_MS + DMARC_TIMEOUT_MS + 5000))
SOCKET="$RIG_TMP/mxguard.sock"

# start_faultdns MODE: faultdns.py in the background; sets DNS_PORT, FD_OUT.
start_faultdns() {
    FD_OUT="$RIG_TMP/faultdns-$1.out"
    /usr/bin/python3 "$TESTS_SRCDIR/lib/faultdns.py" "$1" $((3 * DNS_TIMEOUT_MS)) 120 > "$FD_OUT" 2>&1 &
    FD_PID=$!
    rig_bg faultdns "$FD_PID"
    rig_wait_for 10 _fd_port || { cat "$FD_OUT"; rig_die "faultdns.py $1 printed no port"; }
    DNS_PORT=$(head -1 "$FD_OUT")
    rig_log "faultdns $1 on 127.0.0.1:$DNS_PORT"
}
_fd_port() { [ -s "$FD_OUT" ] && head -1 "$FD_OUT" | grep -qE '^[0-9]+$'; }
fd_count() { grep -c "^$1" "$FD_OUT"; }

# shipped_conf OUT: the shipped config with our socket, upstream and
# timeouts, plus two DNS lists (the shipped file defines none).
shipped_conf() {
    sed -e "s|^socket = .*|socket = \"unix:$SOCKET\";|" \
        -e "s|upstream = \"system\";|upstream = \"127.0.0.1@$DNS_PORT\";|" \
        -e "s|timeout_ms = 5000;     # per query|timeout_ms = $DNS_TIMEOUT_MS;     # per query|" \
        -e "s|timeout_ms = 5000;     # time per message|timeout_ms = $DMARC_TIMEOUT_MS;     # time per message|" \
        "$SHIPPED" > "$1"
    cat >> "$1" <<EOT
dnsbl = (
  { name = "bl"; zone = "bl.example"; type = "ip"; weight = 5; },
  { name = "dbl"; zone = "dbl.example"; type = [ "helo", "sender" ]; weight = 5; }
);
EOT
    grep -q "127.0.0.1@$DNS_PORT" "$1" && grep -q "timeout_ms = $DNS_TIMEOUT_MS;" "$1" ||
        rig_die "could not point the shipped config at the fault server"
}

# run_fault LABEL STAGE QID: one miltertest run; sets LAST_MS.
run_fault() {
    local label=$1 out="$RIG_TMP/mt-${1//\//-}.out" t0
    t0=$(rig_now_ms)
    if timeout 60 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" -D STAGE="$2" \
        -D QID="$3" -D MSG="$MSG" -s "$HERE/dnsfault.lua" > "$out" 2>&1 && grep -qx PASS "$out"; then
        LAST_MS=$(( $(rig_now_ms) - t0 ))
        rig_pass "$label: deferred at $2 (${LAST_MS} ms)"
    else
        LAST_MS=$(( $(rig_now_ms) - t0 ))
        rig_fail "$label: miltertest ($2, ${LAST_MS} ms): $(tail -3 "$out" | tr '\n' ' ')"
    fi
    rig_check "$label: answered within ${BOUND_MS} ms (took ${LAST_MS} ms)" test "$LAST_MS" -lt "$BOUND_MS"
}

# use_conf FILE: the first time start mxguard with it; later copy it over
# the running config and reload (SIGHUP; each config snapshot has its own
# resolver, so the new upstream is used from the next message on).  Sets
# LOG_FROM, the log line where this configuration's messages start.
CONF="$RIG_TMP/mxguard.conf"
NRELOAD=0
use_conf() {
    cp "$1" "$CONF"
    if [ -z "${RIG_MX_PID:-}" ]; then
        rig_start_mxguard "$CONF" "$SOCKET"
    else
        NRELOAD=$((NRELOAD + 1))
        kill -HUP "$RIG_MX_PID"
        rig_wait_for 10 _reloaded || rig_die "mxguard did not reload $1"
    fi
    LOG_FROM=$(($(wc -l < "$RIG_MX_LOG") + 1))
}
_reloaded() { [ "$(grep -c 'configuration reloaded from' "$RIG_MX_LOG")" -ge "$NRELOAD" ]; }
# lists_logged LABEL: since LOG_FROM, the failed client-address list lookup
# was logged and counted as not listed.
lists_logged() {
    rig_check "$1: the failed list lookup is logged as not listed" \
        bash -c "tail -n +$LOG_FROM '$RIG_MX_LOG' | grep -q 'dnsbl bl: 10.2.0.192.bl.example: .*, counted as not listed'"
}

SUMMARY=""
for mode in down slow servfail truncated truncated-notcp; do
    start_faultdns "$mode"
    q=$(printf '%s' "$mode" | tr -d '-' | tr '[:lower:]' '[:upper:]')

    # 1. The shipped policy: deferred at RCPT.
    shipped_conf "$RIG_TMP/shipped-$mode.conf"
    use_conf "$RIG_TMP/shipped-$mode.conf"
    run_fault "$mode/shipped" rcpt "QS$q"
    ms1=$LAST_MS
    rig_check_decision "$mode/shipped" "queue_id=QS$q" stage=rcpt rcpts=0 rcpts_rejected=1 \
        spf=temperror spf_domain=signer.example spf_helo=temperror dnsbl_score=0 dnsbl=- \
        dkim=- dmarc=- rule=spf-temperror dry_run=- action=tempfail \
        reply="451 4.7.24 SPF temporary error, try again later"
    el=${RIG_D[elapsed_ms]:-999999}
    rig_check "$mode/shipped: decision elapsed_ms $el < $BOUND_MS" test "$el" -lt "$BOUND_MS"
    lists_logged "$mode/shipped"

    # 2. All checks to the end of message: DKIM and DMARC temperror.
    # shellcheck disable=SC2034 # used through RIG_SUBST_VARS
    RIG_SUBST_VARS="SOCKET DNS_PORT DNS_TIMEOUT_MS DMARC_TIMEOUT_MS"
    rig_subst "$HERE/mxguard-dnsfault.conf.in" "$RIG_TMP/eom-$mode.conf"
    use_conf "$RIG_TMP/eom-$mode.conf"
    run_fault "$mode/eom" eom "QE$q"
    ms2=$LAST_MS
    rig_check_decision "$mode/eom" "queue_id=QE$q" stage=eom rcpts=1 rcpts_rejected=0 \
        spf=temperror spf_domain=signer.example spf_helo=temperror dnsbl_score=0 dnsbl=- \
        dkim=temperror:signer.example dmarc=temperror from_domain=signer.example \
        rule=dkim-temperror dry_run=spf-temperror action=tempfail \
        reply="451 4.7.5 DKIM key lookup failed, try again later"
    el=${RIG_D[elapsed_ms]:-999999}
    rig_check "$mode/eom: decision elapsed_ms $el < $BOUND_MS" test "$el" -lt "$BOUND_MS"
    lists_logged "$mode/eom"

    # The fault server was really asked (except "down", where nobody listens).
    case $mode in
        down) ;;
        *) rig_check "$mode: the fault server got queries ($(fd_count udp))" test "$(fd_count udp)" -gt 0 ;;
    esac
    [ "$mode" = truncated ] &&
        rig_check "truncated: the resolver retried over TCP ($(fd_count tcp-closed) connections)" \
            test "$(fd_count tcp-closed)" -gt 0
    rig_stop_pid "$FD_PID" 5
    SUMMARY="$SUMMARY $mode:rcpt=${ms1}ms,eom=${ms2}ms"
done
rig_eq "one decision line per message" 10 "$(rig_decisions | wc -l)"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
rig_log "miltertest wall time per mode:$SUMMARY"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -60
fi
rig_finish
