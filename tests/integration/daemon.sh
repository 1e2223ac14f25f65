#!/bin/bash
# daemon.sh - the mxguard daemon's command line and life cycle: -n on good
# and bad configs, -V, start with a pidfile and privilege drop, SIGHUP
# reload (good and bad config), SIGTERM stop.  Every wait is bounded.
set -u
MXGUARD=${MXGUARD:?MXGUARD must name the built daemon}
tmp=$(mktemp -d /tmp/mxguard-daemon.XXXXXX)
chmod 755 "$tmp"
pid=""
failures=0
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    if [ "$failures" -eq 0 ]; then rm -rf "$tmp"; else echo "kept $tmp for inspection"; fi
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }
check() { # description command...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
wait_for() { # seconds command...
    local n=$(($1 * 10)); shift
    while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}

user_line=""
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then user_line='user = "nobody";'; fi

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
for lib in mxguard libmilter libspf2 libunbound libopendkim libconfig; do
    check "-V prints $lib" grep -q "^$lib [0-9]" <<<"$out"
done

# start
"$MXGUARD" -f -c "$tmp/good.conf" 2>"$tmp/log" &
pid=$!
check "socket appears" wait_for 10 test -S "$tmp/mxguard.sock"
check "pidfile holds the pid" wait_for 5 grep -qx "$pid" "$tmp/mxguard.pid"
check "started line logged" wait_for 5 grep -q "started on unix:$tmp/mxguard.sock" "$tmp/log"
if [ -n "$user_line" ]; then
    check "privileges dropped to nobody" wait_for 5 sh -c "[ \"\$(ps -o user= -p $pid)\" = nobody ]"
    check "socket owned by nobody" [ "$(stat -c %U "$tmp/mxguard.sock")" = nobody ]
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

if [ "$failures" -ne 0 ]; then
    echo "---- daemon log"; cat "$tmp/log"
    exit 1
fi
exit 0
