# benchlib.sh - the set-up run.sh and profile.sh share (source after rig.sh
# and postfix.sh; HERE, CORPUS and RIG_DNS_PORT set):
#   bench_start_mxguard_unix   mxguard with tests/bench/mxguard.conf.in on a
#                              unix socket: sets UNIX_SOCK, MX_UNIX_PID;
#                              REPORTS=1: DMARC aggregate reports recorded
#   bench_start_postfix        smtp-sink that discards (the benchmark measures
#                              the MTA and the milter) and a private Postfix
#                              relaying to it, the corpus' client addresses
#                              (XCLIENT) in mynetworks; IN_FLOW_DELAY, if
#                              set, for its in_flow_delay

bench_start_mxguard_unix() {
    # shellcheck disable=SC2034 # used through RIG_SUBST_VARS
    DNS_PORT=$RIG_DNS_PORT
    RIG_SUBST_VARS="SOCKET DNS_PORT"
    UNIX_SOCK=$RIG_TMP/mxguard.sock
    SOCKET="unix:$UNIX_SOCK"
    rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mx-unix.conf"
    # REPORTS=1: DMARC aggregate reports recorded (SQLite store in RIG_TMP),
    # flushed every second: the flushes fall inside the measured runs
    if [ -n "${REPORTS:-}" ]; then
        mkdir -p "$RIG_TMP/store" # the daemon's user (RIG_MX_PRIVS) writes it
        [ "$(id -u)" -eq 0 ] && chown nobody "$RIG_TMP/store"
        cat >> "$RIG_TMP/mx-unix.conf" <<EOF
reports = { enabled = true; store = "sqlite:$RIG_TMP/store/reports.db"; org_name = "bench";
  email = "dmarc-reports@mx.bench.example"; flush_interval = 1; };
EOF
    fi
    rig_start_mxguard "$RIG_TMP/mx-unix.conf" "$UNIX_SOCK"
    MX_UNIX_PID=$RIG_MX_PID
}

bench_start_postfix() {
    local sink_port
    sink_port=$(rig_free_port)
    smtp-sink -u postfix -h sink.bench.example "127.0.0.1:$sink_port" 256 > "$RIG_TMP/sink.out" 2>&1 &
    rig_bg smtp-sink $!
    RIG_SINK_PORT=$sink_port
    rig_wait_for 10 _rig_tcp_open "$sink_port" || rig_die "smtp-sink did not start"
    rig_start_postfix ""
    postconf -c "$RIG_PF_CONF" -e "mynetworks = 127.0.0.0/8 198.51.100.0/24 203.0.113.0/24"
    [ -n "${IN_FLOW_DELAY:-}" ] && postconf -c "$RIG_PF_CONF" -e "in_flow_delay = $IN_FLOW_DELAY"
    return 0
}
