# sendmail.sh - a private Sendmail (Debian 12's 8.17, never installed) for
# the end-to-end tests.  Source after rig.sh and postfix.sh (its smtp-sink
# and SMTP client are reused).
#
# The Debian packages sendmail-bin, sendmail-base, sendmail-cf, libwrap0 and
# liblockfile1 are not installed (sendmail-bin conflicts with postfix):
# scripts/install-deps.sh --test downloads them with apt-get download into
# $SENDMAIL_DEBS (default /var/cache/mxguard-tests/sendmail) and the test
# unpacks them with dpkg -x into its temporary directory.  The sendmail
# binary is setgid smmsp there, so the loader would ignore LD_LIBRARY_PATH
# (libwrap0 and liblockfile1 exist only in the private root): its setgid bit
# is cleared in the private copy.
#
# The instance: a .cf made with m4 from tests/e2e/sendmail.mc.in, queue,
# pid file and statistics under $RIG_TMP/sm, listening on 127.0.0.1 only,
# relaying every message to the smtp-sink, run in the foreground
# (sendmail -bD) inside a UTS and mount namespace (tests/lib/sendmail-ns.sh:
# its own host name, hosts file, nsswitch.conf, resolv.conf and /dev/log,
# nothing on the host changed).  Its syslog lines go to $RIG_SM_DIR/maillog.

RIG_SM_DEBS=${SENDMAIL_DEBS:-/var/cache/mxguard-tests/sendmail}
RIG_SM_PKGS="sendmail-bin sendmail-base sendmail-cf libwrap0 liblockfile1"
RIG_SM_ROOT=""
RIG_SM_DIR=""
RIG_SM_PID=""

# rig_sendmail_root: unpack the packages into $RIG_TMP/smroot (once); sets
# RIG_SM_ROOT, RIG_SM_BIN.  Missing packages fail the test, naming the fix.
rig_sendmail_root() {
    local p deb
    [ -n "$RIG_SM_ROOT" ] && return 0
    [ "$(id -u)" -eq 0 ] || rig_die "the Sendmail test needs root (namespaces, a private Sendmail)"
    command -v dpkg > /dev/null || rig_die "dpkg not found"
    command -v m4 > /dev/null || rig_die "m4 not found: run scripts/install-deps.sh --test"
    command -v unshare > /dev/null || rig_die "unshare not found (util-linux): run scripts/install-deps.sh --test"
    RIG_SM_ROOT="$RIG_TMP/smroot"
    mkdir -p "$RIG_SM_ROOT"
    for p in $RIG_SM_PKGS; do
        deb=$(find "$RIG_SM_DEBS" -maxdepth 1 -name "${p}_*.deb" 2>/dev/null | sort | tail -1)
        [ -n "$deb" ] || rig_die "no ${p}_*.deb in $RIG_SM_DEBS: the Sendmail packages could not be had; run scripts/install-deps.sh --test (apt-get download of $RIG_SM_PKGS) or set SENDMAIL_DEBS"
        dpkg -x "$deb" "$RIG_SM_ROOT" || rig_die "dpkg -x $deb failed"
    done
    RIG_SM_BIN="$RIG_SM_ROOT/usr/libexec/sendmail/sendmail"
    rig_need_exec sendmail "$RIG_SM_BIN"
    chmod g-s "$RIG_SM_BIN"
    rig_log "Sendmail unpacked from $RIG_SM_DEBS: $(find "$RIG_SM_DEBS" -maxdepth 1 -name 'sendmail-bin_*.deb' -printf '%f\n' | sort | tail -1)"
}

# rig_sm_run ARGS...: the private sendmail binary in its namespaces, without
# the syslog socket (e.g. -bp to list the queue).
rig_sm_run() {
    LD_LIBRARY_PATH="$RIG_SM_ROOT/usr/lib/x86_64-linux-gnu:$RIG_SM_ROOT/lib/x86_64-linux-gnu" \
        unshare --uts --mount sh "$TESTS_SRCDIR/lib/sendmail-ns.sh" "$RIG_SM_DIR" 0 \
        "$RIG_SM_BIN" -C "$RIG_SM_CF" "$@"
}

# rig_start_sendmail MILTER_SOCKET: a fresh instance whose milter is
# MILTER_SOCKET (Sendmail's S= syntax: local:PATH or inet:PORT@127.0.0.1),
# relaying to the sink of rig_start_sink.  Sets RIG_SM_DIR, RIG_SM_CF,
# RIG_SM_PORT (also RIG_SMTP_PORT, for postfix.sh's SMTP client),
# RIG_SM_PID, RIG_SM_LOG and RIG_SM_START_MS (start to first connection).
# RIG_SM_MC_EXTRA, if set, is one more .mc line (before the MAILER lines).
# Instances started earlier keep running (rig_stop_sendmail stops them all).
RIG_SM_N=0
RIG_SM_RUNNING=""       # "pid:dir" of every instance started and not stopped
rig_start_sendmail() {
    local t0 libdir
    rig_sendmail_root
    [ -n "${RIG_SINK_PORT:-}" ] || rig_die "rig_start_sendmail: start the sink first"
    RIG_SM_N=$((RIG_SM_N + 1))
    RIG_SM_DIR="$RIG_TMP/sm$RIG_SM_N"
    mkdir -p "$RIG_SM_DIR/etc" "$RIG_SM_DIR/queue"
    chmod 0700 "$RIG_SM_DIR/queue"
    : > "$RIG_SM_DIR/aliases"
    : > "$RIG_SM_DIR/maillog"
    printf '127.0.0.1 mta.rig.example mta localhost\n' > "$RIG_SM_DIR/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\n' > "$RIG_SM_DIR/etc/nsswitch.conf"
    printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' > "$RIG_SM_DIR/etc/resolv.conf"
    RIG_SM_PORT=$(rig_free_port)
    # shellcheck disable=SC2034 # postfix.sh's SMTP client reads it
    RIG_SMTP_PORT=$RIG_SM_PORT
    # shellcheck disable=SC2034 # used through RIG_SUBST_VARS
    SM_ROOT=$RIG_SM_ROOT SM_DIR=$RIG_SM_DIR SM_PORT=$RIG_SM_PORT SINK_PORT=$RIG_SINK_PORT \
        MILTER_SOCKET=$1
    RIG_SUBST_VARS="SM_ROOT SM_DIR SM_PORT SINK_PORT MILTER_SOCKET" \
        rig_subst "$TESTS_SRCDIR/e2e/sendmail.mc.in" "$RIG_SM_DIR/sendmail.mc"
    if [ -n "${RIG_SM_MC_EXTRA:-}" ]; then
        awk -v x="$RIG_SM_MC_EXTRA" '/^MAILER\(/ && !done { print x; done = 1 } { print }' \
            "$RIG_SM_DIR/sendmail.mc" > "$RIG_SM_DIR/sendmail.mc.tmp" &&
            mv "$RIG_SM_DIR/sendmail.mc.tmp" "$RIG_SM_DIR/sendmail.mc"
    fi
    RIG_SM_CF="$RIG_SM_DIR/sendmail.cf"
    m4 -D_CF_DIR_="$RIG_SM_ROOT/usr/share/sendmail/cf/" "$RIG_SM_ROOT/usr/share/sendmail/cf/m4/cf.m4" \
        "$RIG_SM_DIR/sendmail.mc" > "$RIG_SM_CF" 2> "$RIG_SM_DIR/m4.err" ||
        { cat "$RIG_SM_DIR/m4.err"; rig_die "m4 could not make $RIG_SM_CF"; }
    # Loopback only: one daemon, on 127.0.0.1 (no default MSA on port 587).
    [ "$(grep -c '^O DaemonPortOptions=' "$RIG_SM_CF")" = 1 ] &&
        grep -q "^O DaemonPortOptions=.*Addr=127\.0\.0\.1, Port=$RIG_SM_PORT\$" "$RIG_SM_CF" ||
        rig_die "$RIG_SM_CF would listen elsewhere than 127.0.0.1:$RIG_SM_PORT: $(grep '^O DaemonPortOptions' "$RIG_SM_CF" | tr '\n' ' ')"
    libdir="$RIG_SM_ROOT/usr/lib/x86_64-linux-gnu:$RIG_SM_ROOT/lib/x86_64-linux-gnu"
    t0=$(rig_now_ms)
    LD_LIBRARY_PATH=$libdir unshare --uts --mount sh "$TESTS_SRCDIR/lib/sendmail-ns.sh" \
        "$RIG_SM_DIR" 1 "$RIG_SM_BIN" -bD -C "$RIG_SM_CF" > "$RIG_SM_DIR/stdout" 2>&1 &
    RIG_SM_PID=$!
    rig_bg sendmail "$RIG_SM_PID"
    RIG_SM_RUNNING="$RIG_SM_RUNNING $RIG_SM_PID:$RIG_SM_DIR"
    case " $RIG_STOP_HOOKS " in *" rig_stop_sendmail "*) ;; *) RIG_STOP_HOOKS="$RIG_STOP_HOOKS rig_stop_sendmail" ;; esac
    RIG_SM_LOG="$RIG_SM_DIR/maillog"
    if ! rig_wait_for 20 _rig_sm_ready; then
        cat "$RIG_SM_DIR/stdout" "$RIG_SM_LOG" 2>/dev/null | tail -20
        rig_die "private Sendmail did not accept connections on 127.0.0.1:$RIG_SM_PORT"
    fi
    RIG_SM_START_MS=$(($(rig_now_ms) - t0))
    rig_log "Sendmail (config $RIG_SM_CF, milter $1) on 127.0.0.1:$RIG_SM_PORT, pid $RIG_SM_PID, up in $RIG_SM_START_MS ms"
}
_rig_sm_ready() {
    kill -0 "$RIG_SM_PID" 2>/dev/null || return 1
    _rig_tcp_open "$RIG_SM_PORT"
}

# rig_stop_sendmail: every running instance (SIGTERM, bounded) and its
# syslog socket.
rig_stop_sendmail() {
    local e dir
    for e in $RIG_SM_RUNNING; do
        dir=${e#*:}
        rig_stop_pid "${e%%:*}" 10
        if [ -s "$dir/syslog.pid" ]; then
            rig_stop_pid "$(cat "$dir/syslog.pid")" 5
            rm -f "$dir/syslog.pid"
        fi
    done
    RIG_SM_RUNNING=""
    RIG_SM_PID=""
    return 0
}

# rig_sm_qid_from_reply: the queue id in Sendmail's "250 2.0.0 QID Message
# accepted for delivery" ($RIG_SMTP_TEXT), or "".
rig_sm_qid_from_reply() {
    [[ ${RIG_SMTP_TEXT:-} =~ ^2\.0\.0\ ([0-9A-Za-z]+)\ Message\ accepted ]] && echo "${BASH_REMATCH[1]}"
    return 0
}
