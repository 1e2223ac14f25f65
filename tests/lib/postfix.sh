# postfix.sh - a private Postfix instance, an smtp-sink that keeps what it
# receives, and a tiny SMTP client in bash, for the end-to-end tests.
# Source after rig.sh.
#
# The instance lives entirely under $RIG_TMP/pf (its own config_directory,
# queue_directory, data_directory and log file), listens on 127.0.0.1 only
# (a free port), relays everything to smtp-sink on 127.0.0.1, never looks
# anything up in DNS, and runs no chroot.  /etc/postfix is only read (for
# postfix-files, via meta_directory), never written; the host's own mail
# system, if any, is not touched.

RIG_PF_DIR=""

# rig_start_sink: smtp-sink on 127.0.0.1:$RIG_SINK_PORT writing one file per
# delivered message into $RIG_SINK_DIR.
rig_start_sink() {
    local sink
    sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
    rig_need_exec smtp-sink "$sink"
    RIG_SINK_DIR="$RIG_TMP/sink"
    mkdir -p "$RIG_SINK_DIR"
    chown postfix "$RIG_SINK_DIR"
    RIG_SINK_PORT=$(rig_free_port)
    "$sink" -u postfix -h sink.rig.example -d "$RIG_SINK_DIR/msg." \
        "127.0.0.1:$RIG_SINK_PORT" 16 > "$RIG_TMP/sink.out" 2>&1 &
    RIG_SINK_PID=$!
    rig_bg smtp-sink "$RIG_SINK_PID"
    rig_wait_for 10 _rig_tcp_open "$RIG_SINK_PORT" ||
        { cat "$RIG_TMP/sink.out"; rig_die "smtp-sink did not listen on port $RIG_SINK_PORT"; }
    rig_log "smtp-sink on 127.0.0.1:$RIG_SINK_PORT, pid $RIG_SINK_PID"
}
_rig_tcp_open() {
    # A connect that succeeds (then closed at once).
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
# Number of messages the sink has stored.
rig_sink_count() { find "$RIG_SINK_DIR" -type f -name 'msg.*' | wc -l; }

# rig_start_postfix MILTER_SOCKET_PATH_OR_EMPTY: start the private instance;
# a unix socket path, or smtpd_milters as Postfix takes it: inet:HOST:PORT,
# or unix:PATH (a relative PATH is relative to the queue directory,
# $RIG_TMP/pf/queue).
# Sets RIG_PF_DIR, RIG_PF_CONF, RIG_SMTP_PORT.  RIG_PF_MASTER_EXTRA, if set,
# is appended to master.cf (e.g. a second smtpd with other milters).
rig_start_postfix() {
    local milter=$1
    case $milter in
    '' | inet:* | unix:*) ;;
    *) milter=unix:$milter ;;
    esac
    rig_need_exec postfix "${POSTFIX:-}"
    id postfix > /dev/null 2>&1 || rig_die "user 'postfix' missing (Debian package postfix not installed)"
    [ "$(id -u)" -eq 0 ] || rig_die "the end-to-end test needs root (to run a private Postfix instance)"
    RIG_PF_DIR="$RIG_TMP/pf"
    RIG_PF_CONF="$RIG_PF_DIR/etc"
    mkdir -p "$RIG_PF_CONF" "$RIG_PF_DIR/queue" "$RIG_PF_DIR/data"
    chown postfix "$RIG_PF_DIR/data"
    RIG_SMTP_PORT=$(rig_free_port)
    cat > "$RIG_PF_CONF/main.cf" <<EOF
# private Postfix instance of the mxguard end-to-end test (generated)
compatibility_level = 3.6
config_directory = $RIG_PF_CONF
queue_directory = $RIG_PF_DIR/queue
data_directory = $RIG_PF_DIR/data
mail_owner = postfix
myhostname = mta.rig.example
mydomain = rig.example
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 192.0.2.0/24 192.168.1.0/24
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP
# XCLIENT lets a test claim a client address (a documentation or private
# address that is never contacted: it only reaches the milter's connect
# information).
smtpd_authorized_xclient_hosts = 127.0.0.1
relayhost = [127.0.0.1]:$RIG_SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_connect_timeout = 5s
smtpd_milters = $milter
non_smtpd_milters =
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 15s
milter_content_timeout = 15s
maillog_file = $RIG_PF_DIR/maillog
maillog_file_prefixes = $RIG_PF_DIR
biff = no
queue_run_delay = 300s
minimal_backoff_time = 300s
EOF
    cat > "$RIG_PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$RIG_SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
${RIG_PF_MASTER_EXTRA:-}
EOF
    # start-fg keeps master in the foreground: plain "start" needs a tty.
    "$POSTFIX" -c "$RIG_PF_CONF" start-fg > "$RIG_PF_DIR/start.out" 2>&1 &
    RIG_PF_PID=$!
    rig_bg postfix "$RIG_PF_PID"
    RIG_STOP_HOOKS="$RIG_STOP_HOOKS rig_stop_postfix"
    if ! rig_wait_for 20 _rig_pf_ready; then
        cat "$RIG_PF_DIR/start.out" "$RIG_PF_DIR/maillog" 2>/dev/null | tail -20
        rig_die "private Postfix did not accept connections on 127.0.0.1:$RIG_SMTP_PORT"
    fi
    rig_log "Postfix (config $RIG_PF_CONF) on 127.0.0.1:$RIG_SMTP_PORT, pid $RIG_PF_PID"
}
_rig_pf_ready() {
    kill -0 "$RIG_PF_PID" 2>/dev/null || return 1
    _rig_tcp_open "$RIG_SMTP_PORT" && [ -S "$RIG_PF_DIR/queue/public/showq" ]
}
rig_stop_postfix() {
    [ -n "$RIG_PF_DIR" ] || return 0
    "$POSTFIX" -c "$RIG_PF_CONF" stop > /dev/null 2>&1
    rig_stop_pid "$RIG_PF_PID" 10
    RIG_PF_DIR=""
}

# rig_postqueue_json: the queue as postqueue -j prints it (one object a line).
rig_postqueue_json() { postqueue -c "$RIG_PF_CONF" -j 2>&1; }

# ---- a minimal SMTP client (bash /dev/tcp, 127.0.0.1 only) -------------------
# The transcript of every session goes to $RIG_TMP/smtp.log.
# rig_smtp_open PORT: connect and read the greeting (sets RIG_SMTP_CODE/TEXT).
rig_smtp_open() {
    exec {RIG_SMTP_FD}<>"/dev/tcp/127.0.0.1/$1" || { RIG_SMTP_CODE=000; return 1; }
    echo "--- connect 127.0.0.1:$1" >> "$RIG_TMP/smtp.log"
    rig_smtp_read
}
# rig_smtp_read: read one (multi-line) reply; RIG_SMTP_CODE is its code,
# RIG_SMTP_TEXT its last line without the code ("5.7.23 SPF ...").
rig_smtp_read() {
    local line n=0
    RIG_SMTP_CODE=000; RIG_SMTP_TEXT=""
    while [ $n -lt 100 ]; do
        n=$((n + 1))
        if ! IFS= read -r -t 20 line <&"$RIG_SMTP_FD"; then
            echo "S: <timeout or EOF>" >> "$RIG_TMP/smtp.log"
            return 1
        fi
        line=${line%$'\r'}
        echo "S: $line" >> "$RIG_TMP/smtp.log"
        if [[ $line =~ ^([0-9]{3})\ (.*)$ ]]; then
            RIG_SMTP_CODE=${BASH_REMATCH[1]}
            RIG_SMTP_TEXT=${BASH_REMATCH[2]}
            return 0
        elif [[ $line =~ ^([0-9]{3})$ ]]; then
            RIG_SMTP_CODE=${BASH_REMATCH[1]}
            return 0
        fi
    done
    return 1
}
# rig_smtp_cmd LINE: send one command line and read the reply.
rig_smtp_cmd() {
    echo "C: $1" >> "$RIG_TMP/smtp.log"
    printf '%s\r\n' "$1" >&"$RIG_SMTP_FD" || { RIG_SMTP_CODE=000; return 1; }
    rig_smtp_read
}
# rig_smtp_data FILE: after a 354, send FILE (LF or CRLF lines, dot-stuffed
# here) and the final "."; reads the reply.
rig_smtp_data() {
    local line
    echo "C: <message $1>" >> "$RIG_TMP/smtp.log"
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        [[ $line == .* ]] && line=".$line"
        printf '%s\r\n' "$line"
    done < "$1" >&"$RIG_SMTP_FD"
    rig_smtp_cmd "."
}
rig_smtp_close() {
    [ -n "${RIG_SMTP_FD:-}" ] || return 0
    rig_smtp_cmd "QUIT" || true
    exec {RIG_SMTP_FD}>&-
    RIG_SMTP_FD=""
}

# rig_smtp_send MAILFROM RCPT FILE: one message in one SMTP session to the
# private Postfix (EHLO mx.client.example); sets QID from "queued as X" (""
# when refused) and leaves the final reply in RIG_SMTP_CODE / RIG_SMTP_TEXT.
# Fails when a step before the end of data is refused.
rig_smtp_send() {
    QID=""
    rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "MAIL FROM:<$1>" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "RCPT TO:<$2>" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] || return 1
    rig_smtp_data "$3" || return 1
    [[ $RIG_SMTP_TEXT =~ queued\ as\ ([0-9A-Za-z]+) ]] && QID=${BASH_REMATCH[1]}
    local code=$RIG_SMTP_CODE text=$RIG_SMTP_TEXT
    rig_smtp_close
    RIG_SMTP_CODE=$code RIG_SMTP_TEXT=$text
    return 0
}

# rig_start_stream TAG N GAP_MS: in the background, N messages to the private
# Postfix, one SMTP session each, GAP_MS apart (tests/lib/smtpstream.py; a
# line per message in $RIG_STREAM_OUT; TAG goes into every message).  Sets
# RIG_STREAM_PID, RIG_STREAM_OUT and RIG_STREAM_T0 (ms).
rig_start_stream() {
    RIG_STREAM_OUT="$RIG_TMP/stream.out"
    : > "$RIG_STREAM_OUT"
    /usr/bin/python3 "$TESTS_SRCDIR/lib/smtpstream.py" "$RIG_SMTP_PORT" "$1" "$2" "$RIG_STREAM_OUT" "$3" 240 \
        > "$RIG_TMP/stream.err" 2>&1 &
    RIG_STREAM_PID=$!
    rig_bg smtpstream "$RIG_STREAM_PID"
    RIG_STREAM_T0=$(rig_now_ms)
}
