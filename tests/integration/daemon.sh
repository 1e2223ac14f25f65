#!/bin/bash
# daemon.sh - the mxguard daemon's command line and life cycle: -n on good
# and bad configs, -V, start with a pidfile and privilege drop, SIGHUP
# reload (good and bad config), SIGTERM stop; as root also least
# privilege: the refusal to run as root without user / allow_root, the
# process's uid after the drop (/proc/PID/status), the socket's mode and
# group (default, socket_mode, socket_group).  Every wait is bounded.
set -u
DL_NAME=daemon . "${TESTS_SRCDIR:?TESTS_SRCDIR must name tests/}/lib/daemonlib.sh"

write_conf() { # file action
    cat >"$1" <<EOC
socket = "unix:$tmp/mxguard.sock";
pidfile = "$tmp/mxguard.pid";
$user_line
authserv_id = "mx.example.net";
dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };
rules = ( { name = "r1"; match = { spf = ["fail"]; }; action = "$2"; } );
EOC
}

write_conf "$tmp/good.conf" reject
cat >"$tmp/bad.conf" <<'EOC'
socket = "unix:/tmp/x.sock";

no_such_key = 1;
rules = ( { name = "r1"; action = "explode"; } );
EOC

# -n
out=$("$MXGUARD" -n -c "$tmp/good.conf" 2>&1); rc=$?
check "-n accepts a good config" [ $rc -eq 0 ]
check "-n says OK" grep -q "configuration $tmp/good.conf OK" <<<"$out"
out=$("$MXGUARD" -n -c "$tmp/bad.conf" 2>&1); rc=$?
check "-n rejects a bad config with status 1" [ $rc -eq 1 ]
check "-n names FILE:LINE of the unknown key" grep -q "bad.conf:3:" <<<"$out"
check "-n names FILE:LINE of the unknown action" grep -q "bad.conf:4:" <<<"$out"
out=$("$MXGUARD" -n -c "$tmp/missing.conf" 2>&1); rc=$?
check "-n on a missing file fails" [ $rc -eq 1 ]
check "-n on a missing file names it" grep -q "missing.conf" <<<"$out"

# -V
out=$("$MXGUARD" -V 2>&1)
for lib in mxguard libspf2 libunbound libopendkim libconfig; do
    check "-V prints $lib" grep -q "^$lib [0-9]" <<<"$out"
done
check "-V prints the milter protocol version" grep -q "^milter protocol 6 " <<<"$out"

# start
"$MXGUARD" -f -c "$tmp/good.conf" 2>"$tmp/log" &
pid=$!
check "socket appears" wait_for 10 test -S "$tmp/mxguard.sock"
check "pidfile holds the pid" wait_for 5 grep -qx "$pid" "$tmp/mxguard.pid"
check "started line logged" wait_for 5 grep -q "started on unix:$tmp/mxguard.sock" "$tmp/log"
if [ -n "$user_line" ]; then
    check "privileges dropped to nobody" wait_for 5 sh -c "[ \"\$(ps -o user= -p $pid)\" = nobody ]"
    nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
    check "/proc/PID/status: real, effective, saved and fs uid are nobody's" \
        grep -qE "^Uid:[[:space:]]+$nobody_uid[[:space:]]+$nobody_uid[[:space:]]+$nobody_uid[[:space:]]+$nobody_uid\$" \
        "/proc/$pid/status"
    check "/proc/PID/status: every gid is nobody's group" \
        grep -qE "^Gid:[[:space:]]+$nobody_gid[[:space:]]+$nobody_gid[[:space:]]+$nobody_gid[[:space:]]+$nobody_gid\$" \
        "/proc/$pid/status"
    check "/proc/PID/status: no capabilities left" grep -qE '^CapEff:[[:space:]]+0+$' "/proc/$pid/status"
    check "socket owned by nobody" [ "$(stat -c %U "$tmp/mxguard.sock")" = nobody ]
    check "socket group is nobody's group (default)" [ "$(stat -c %g "$tmp/mxguard.sock")" = "$nobody_gid" ]
    check "socket mode is 0660 (default)" [ "$(stat -c %a "$tmp/mxguard.sock")" = 660 ]
fi

# SIGHUP with a good config
write_conf "$tmp/good.conf" tempfail
kill -HUP "$pid"
check "SIGHUP reloads a good config" wait_for 10 grep -q "configuration reloaded from" "$tmp/log"
check "still running after reload" kill -0 "$pid"

# SIGHUP with a bad config: logged, old one stays
cp "$tmp/bad.conf" "$tmp/good.conf"
kill -HUP "$pid"
check "bad reload is logged" wait_for 10 grep -q "reload of $tmp/good.conf failed" "$tmp/log"
check "bad reload names FILE:LINE" grep -q "good.conf:3:" "$tmp/log"
check "still running after bad reload" kill -0 "$pid"
check "socket still there after bad reload" test -S "$tmp/mxguard.sock"

# SIGTERM
kill -TERM "$pid"
stopped=1
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || { stopped=0; break; }; sleep 0.1; done
check "SIGTERM stops within 15 s" [ $stopped -eq 0 ]
wait "$pid"; rc=$?
pid=""
check "exit status 0 after SIGTERM" [ $rc -eq 0 ]
check "stop logged" grep -q "mxguard stopped" "$tmp/log"

# ---- least privilege as root ----------------------------------------------
# run_briefly CONF: start in the foreground, wait for the socket (or the
# exit), leave the output in $tmp/lp.log and the pid in lp_pid (running or not).
run_briefly() {
    rm -f "$tmp/lp.sock" "$tmp/lp.log"
    "$MXGUARD" -f -c "$1" >"$tmp/lp.log" 2>&1 &
    lp_pid=$!
    wait_for 10 sh -c "test -S '$tmp/lp.sock' || ! kill -0 $lp_pid 2>/dev/null"
}
stop_briefly() { kill -TERM "$lp_pid" 2>/dev/null; wait "$lp_pid" 2>/dev/null; }
lp_conf() { # file extra-line...
    local f=$1; shift
    { echo "socket = \"unix:$tmp/lp.sock\";"; echo 'dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };'
      printf '%s\n' "$@"; } >"$f"
}
if [ "$(id -u)" -eq 0 ]; then
    # No user, no allow_root: refused before the socket exists.
    lp_conf "$tmp/root.conf"
    out=$(timeout 10 "$MXGUARD" -f -c "$tmp/root.conf" 2>&1); rc=$?
    check "as root without user: exit status 1" [ $rc -eq 1 ]
    check "as root without user: says why" grep -q "root.conf: refusing to run as root without a user" <<<"$out"
    check "as root without user: names the fix (user or allow_root)" \
        grep -q 'set user = "mxguard";.*allow_root = true;' <<<"$out"
    check "as root without user: no socket created" [ ! -e "$tmp/lp.sock" ]
    out=$(timeout 10 "$MXGUARD" -c "$tmp/root.conf" 2>&1); rc=$?
    check "as root without user, not -f: status 1 and the reason on stderr" \
        sh -c "[ $rc -eq 1 ] && grep -q 'refusing to run as root' <<'EOT'
$out
EOT"
    out=$("$MXGUARD" -n -c "$tmp/root.conf" 2>&1); rc=$?
    check "-n as root without user: the config is valid (status 0)" [ $rc -eq 0 ]
    check "-n as root without user: warns that the daemon would refuse" \
        grep -q "warning: .*refusing to run as root without a user" <<<"$out"
    # user = "root" is no drop either.
    lp_conf "$tmp/rootuser.conf" 'user = "root";'
    out=$(timeout 10 "$MXGUARD" -f -c "$tmp/rootuser.conf" 2>&1); rc=$?
    check "user = root: refused, status 1" [ $rc -eq 1 ]
    check "user = root: says uid 0" grep -q 'user "root" has uid 0' <<<"$out"
    # allow_root = true: runs as root, explicitly.
    lp_conf "$tmp/allow.conf" 'allow_root = true;'
    run_briefly "$tmp/allow.conf"
    check "allow_root = true: starts as root" test -S "$tmp/lp.sock"
    check "allow_root = true: uid 0 in /proc/PID/status" grep -qE '^Uid:[[:space:]]+0[[:space:]]' "/proc/$lp_pid/status"
    check "allow_root = true: socket root-owned, mode 0660" \
        [ "$(stat -c '%U %a' "$tmp/lp.sock")" = "root 660" ]
    stop_briefly
    # socket_mode and socket_group, with the drop to nobody.
    grp=""
    for g in postfix mail daemon; do getent group "$g" >/dev/null && { grp=$g; break; }; done
    if [ -n "$grp" ] && id nobody >/dev/null 2>&1; then
        lp_conf "$tmp/perm.conf" 'user = "nobody";' 'socket_mode = "0666";' "socket_group = \"$grp\";"
        run_briefly "$tmp/perm.conf"
        check "socket_mode/socket_group: started" test -S "$tmp/lp.sock"
        check "socket_mode = \"0666\": the socket's mode" [ "$(stat -c %a "$tmp/lp.sock")" = 666 ]
        check "socket_group = \"$grp\": the socket's group, owner nobody" \
            [ "$(stat -c '%U %G' "$tmp/lp.sock")" = "nobody $grp" ]
        check "socket_group: the process still changed to nobody" \
            grep -qE "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]" "/proc/$lp_pid/status"
        stop_briefly
        lp_conf "$tmp/perm2.conf" 'allow_root = true;' 'socket_mode = "0600";' "socket_group = \"$grp\";"
        run_briefly "$tmp/perm2.conf"
        check "socket_mode = \"0600\" as root: mode and group" \
            [ "$(stat -c '%a %U %G' "$tmp/lp.sock")" = "600 root $grp" ]
        stop_briefly
    else
        not_ok "no group postfix, mail or daemon, or no user nobody: cannot test socket_group"
    fi
else
    echo "# not root: the root refusal and the privilege drop are not tested (nothing counted)"
fi

if [ "$failures" -ne 0 ]; then
    echo "---- daemon log"; cat "$tmp/log"; echo "---- last least-privilege log"; cat "$tmp/lp.log" 2>/dev/null
    exit 1
fi
exit 0
