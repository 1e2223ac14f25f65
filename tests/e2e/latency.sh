#!/bin/bash
# latency.sh - what a message costs through Sendmail and through Postfix
# with mxguard on a unix socket and on TCP: one SMTP connection, LAT_COUNT
# (50) messages on it, the median time per message printed for each of the
# four paths (tests/lib/smtplat.py; the unix and the TCP path of an MTA take
# turns, message by message, so that the machine's load hits both alike).  The figures are printed, not asserted
# (README, Benchmarks); what is asserted is that every message was accepted
# and got its one decision line.  Over TCP an MTA that writes a macro packet
# and then a command in two writes used to wait ~40 ms per command on Nagle
# against the milter's delayed ACK (issue 16): the TCP medians show whether
# it still does.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER, SENDMAIL_DEBS; LAT_COUNT.  Needs root.
# RIG_KEEP=1 keeps the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$TESTS_SRCDIR/lib/sendmail.sh"
rig_init e2e-latency
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/e2e"
N=${LAT_COUNT:-50}

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_sendmail_root
rig_start_dns "$HERE/sendmail-zone.conf"
rig_start_sink

# Two daemons with the config of tests/e2e/sendmail.sh: a unix socket and TCP.
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
SOCK="$RIG_TMP/mxguard.sock"
SOCKET="unix:$SOCK" RIG_SUBST_VARS="SOCKET DNS_PORT" rig_subst "$HERE/sendmail.conf.in" "$RIG_TMP/mx-unix.conf"
rig_start_mxguard "$RIG_TMP/mx-unix.conf" "$SOCK"
MX_UNIX_LOG=$RIG_MX_LOG
MXPORT=$(rig_free_port)
SOCKET="inet:$MXPORT@127.0.0.1" RIG_SUBST_VARS="SOCKET DNS_PORT" rig_subst "$HERE/sendmail.conf.in" "$RIG_TMP/mx-tcp.conf"
MX_TCP_LOG="$RIG_TMP/mxguard-tcp.log"
"$MXGUARD" -c "$RIG_TMP/mx-tcp.conf" -f > "$MX_TCP_LOG" 2>&1 &
MX_TCP_PID=$!
rig_bg mxguard-tcp "$MX_TCP_PID"
rig_wait_for 15 _rig_tcp_open "$MXPORT" || { cat "$MX_TCP_LOG"; rig_die "mxguard on TCP port $MXPORT did not start"; }

declare -A P50
_ndecisions() { grep -c ' decision ' "$1"; }
_has_decisions() { [ "$(_ndecisions "$1")" -ge "$2" ]; }
# measure MTA UNIX_PORT TCP_PORT: one connection to each port, N messages on
# each, in turns (tests/lib/smtplat.py); checks and records the medians.
measure() {
    local m=$1 up=$2 tp=$3 bu bt out line k port
    bu=$(_ndecisions "$MX_UNIX_LOG") bt=$(_ndecisions "$MX_TCP_LOG")
    out=$(timeout 300 /usr/bin/python3 "$TESTS_SRCDIR/lib/smtplat.py" "$N" "$m" "$up" "$tp" 2>&1)
    for k in unix tcp; do
        if [ $k = unix ]; then port=$up; else port=$tp; fi
        line=$(grep "^port=$port " <<< "$out")
        rig_log "$m-$k: ${line:-$out}"
        rig_match "$m-$k: all $N messages accepted on one connection" "^port=$port accepted=$N count=$N " "$line"
        P50[$m-$k]=$(sed -n 's/.* p50_ms=\([^ ]*\) .*/\1/p' <<< "$line")
    done
    rig_wait_for 10 _has_decisions "$MX_UNIX_LOG" $((bu + N))
    rig_wait_for 10 _has_decisions "$MX_TCP_LOG" $((bt + N))
    rig_eq "$m-unix: one decision line per message" $((bu + N)) "$(_ndecisions "$MX_UNIX_LOG")"
    rig_eq "$m-tcp: one decision line per message" $((bt + N)) "$(_ndecisions "$MX_TCP_LOG")"
}

# ---- Sendmail: two instances, the mxguard(8) line with a unix socket and
# with TCP.  Delivery deferred to a queue run (there is none), and no fsync
# of the queue files: the fork and SMTP session that deliver each message at
# once, and the disk, would blur the figures (~20 ms a message, +-15 ms on
# a busy machine), which are about the milter. --------------------------
# shellcheck disable=SC2034 # read by rig_start_sendmail
RIG_SM_MC_EXTRA="define(\`confDELIVERY_MODE', \`queueonly')dnl
define(\`confSAFE_QUEUE', \`false')dnl"
rig_start_sendmail "local:$SOCK"
SM_UNIX_PORT=$RIG_SM_PORT SM_UNIX_LOG=$RIG_SM_LOG
rig_start_sendmail "inet:$MXPORT@127.0.0.1"
measure sendmail "$SM_UNIX_PORT" "$RIG_SM_PORT"
rig_check "Sendmail logged no milter error" \
    bash -c "! grep -qiE 'milter.*(error|timeout|unavailable)' '$SM_UNIX_LOG' '$RIG_SM_LOG'"
rig_stop_sendmail

# ---- Postfix: one instance, a second smtpd with the TCP milter ---------------
PF_TCP_PORT=$(rig_free_port)
# shellcheck disable=SC2034 # read by rig_start_postfix
RIG_PF_MASTER_EXTRA="127.0.0.1:$PF_TCP_PORT inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$MXPORT"
rig_start_postfix "$SOCK"
rig_wait_for 10 _rig_tcp_open "$PF_TCP_PORT" || rig_die "Postfix's second smtpd (port $PF_TCP_PORT) did not listen"
measure postfix "$RIG_SMTP_PORT" "$PF_TCP_PORT"
rig_check "Postfix logged no milter errors" \
    bash -c "! grep -qE 'warning:.*milter' '$RIG_PF_DIR/maillog'"

echo "# p50 ms per message, one connection, $N messages (printed, not asserted):"
printf '#   %-9s %7s %7s %9s\n' MTA unix TCP TCP-unix
for m in sendmail postfix; do
    printf '#   %-9s %7s %7s %9s\n' "$m" "${P50[$m-unix]:-?}" "${P50[$m-tcp]:-?}" \
        "$(awk -v a="${P50[$m-tcp]:-0}" -v b="${P50[$m-unix]:-0}" 'BEGIN { printf "%+.1f", a - b }')"
done
rig_check "mxguard (unix) exits 0 on SIGTERM" rig_stop_mxguard
kill -TERM "$MX_TCP_PID" 2>/dev/null
rig_check "mxguard (TCP) exits 0 on SIGTERM" wait "$MX_TCP_PID"
rig_check_mxguard_log
RIG_MX_LOG=$MX_TCP_LOG rig_check_mxguard_log
rig_log "total $(( $(rig_now_ms) - T0 )) ms"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# mxguard logs:"; tail -5 "$MX_UNIX_LOG" "$MX_TCP_LOG" | sed 's/^/#   /'
    [ -n "$RIG_SM_DIR" ] && { echo "# Sendmail log:"; sed 's/^/#   /' "$RIG_SM_LOG" | tail -20; }
fi
rig_finish
