#!/bin/bash
# operator.sh - what an operator meets first (issue 14): the command line
# (-h, --help), mxguard explain's account of a false condition, a config
# syntax error's line, the socket as Postfix writes it (inet:HOST:PORT),
# -n and the start on missing pidfile and socket directories, SIGHUP
# comparing restart-only settings with what the process serves, log_file
# (a background daemon, logrotate's rename + SIGUSR1/SIGHUP, summary).
# Real daemon and tools, every wait bounded.  Exit 0 pass, 1 fail.
set -u
DL_NAME=operator DL_USER_LINE='allow_root = false;' . "${TESTS_SRCDIR:?TESTS_SRCDIR must name tests/}/lib/daemonlib.sh"
free_port() { # a TCP port nobody listens on, from the kernel's ephemeral range
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
stop() { # pid: SIGTERM, bounded wait, status
    local p=$1 i
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    wait "$p"
}

# ---- -h, --help -------------------------------------------------------------
for opt in -h --help; do
    out=$("$MXGUARD" "$opt" 2>"$tmp/err"); rc=$?
    check "$opt: exit status 0" [ $rc -eq 0 ]
    check "$opt: the usage on stdout" grep -q '^usage: mxguard \[-c FILE\]' <<<"$out"
    check "$opt: nothing on stderr" [ ! -s "$tmp/err" ]
done
"$MXGUARD" --no-such-option >/dev/null 2>"$tmp/err"; rc=$?
check "an unknown option: status 2, the usage on stderr" \
    sh -c "[ $rc -eq 2 ] && grep -q '^usage: mxguard' '$tmp/err'"

# ---- explain: a false condition shows the value it was tested against -------
cat >"$tmp/explain.conf" <<EOC
authserv_id = "mx.example.net";
dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };
spf = { enabled = false; helo = false; };
rules = ( { name = "bl"; match = { dnsbl_score = 5; }; action = "reject"; } );
EOC
printf 'From: a@example.com\nTo: b@example.net\nSubject: t\n\nbody\n' >"$tmp/m.eml"
out=$("$MXGUARD" explain -c "$tmp/explain.conf" --client 192.0.2.1 --helo h.example.com \
    --mail-from a@example.com --rcpt b@example.net "$tmp/m.eml" 2>&1); rc=$?
check "explain: exit status 0" [ $rc -eq 0 ]
check "explain: dnsbl_score = 5 is false, with the score against the threshold" \
    grep -q 'no match: dnsbl_score = 5 is false (the score is 0, below 5)' <<<"$out"

# ---- a syntax error: the line where an unclosed string starts ---------------
{ for i in $(seq 1 14); do echo "# comment $i with a \"quote\""; done
  echo 'authserv_id = "mx.example.net;'
  for i in $(seq 16 26); do echo "# line $i"; done
  echo 'socket = "unix:/run/mxguard/mxguard.sock";'; } >"$tmp/unclosed.conf"
out=$("$MXGUARD" -n -c "$tmp/unclosed.conf" 2>&1); rc=$?
check "-n, unclosed quote: status 1" [ $rc -eq 1 ]
check "-n, unclosed quote: names line 15 where the string starts" \
    grep -q "unclosed.conf:15: unterminated string starting at line 15" <<<"$out"

# ---- the socket as Postfix writes it: inet:HOST:PORT ------------------------
port=$(free_port)
cat >"$tmp/inet.conf" <<EOC
socket = "inet:127.0.0.1:$port";
$user_line
dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };
EOC
out=$("$MXGUARD" -n -c "$tmp/inet.conf" 2>&1); rc=$?
check "-n accepts socket = inet:127.0.0.1:PORT" [ $rc -eq 0 ]
: >"$tmp/inet.log"
"$MXGUARD" -f -c "$tmp/inet.conf" >>"$tmp/inet.log" 2>&1 &
pid=$!
check "inet:127.0.0.1:PORT: started on inet:PORT@127.0.0.1" \
    wait_for 10 grep -q "started on inet:$port@127.0.0.1" "$tmp/inet.log"
check "inet:127.0.0.1:PORT: accepts TCP connections" \
    wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
stop "$pid"; rc=$?; pid=""
check "inet:127.0.0.1:PORT: exit status 0 after SIGTERM" [ $rc -eq 0 ]

# ---- -n and the start check the pidfile's and the socket's directories ------
cat >"$tmp/nodir.conf" <<EOC
socket = "unix:$tmp/no-such-dir/mxguard.sock";
pidfile = "$tmp/no-such-dir2/mxguard.pid";
$user_line
dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };
EOC
out=$("$MXGUARD" -n -c "$tmp/nodir.conf" 2>&1); rc=$?
check "-n, missing directories: status 1" [ $rc -eq 1 ]
check "-n, missing directories: no OK" sh -c "! grep -q 'OK' <<'EOT'
$out
EOT"
check "-n: FILE:LINE of the socket whose directory is missing" \
    grep -q "nodir.conf:1: socket \"unix:$tmp/no-such-dir/mxguard.sock\": the directory $tmp/no-such-dir does not exist" <<<"$out"
check "-n: FILE:LINE of the pidfile whose directory is missing" \
    grep -q "nodir.conf:2: pidfile \"$tmp/no-such-dir2/mxguard.pid\": the directory $tmp/no-such-dir2 does not exist" <<<"$out"
out=$(timeout 10 "$MXGUARD" -f -c "$tmp/nodir.conf" 2>&1); rc=$?
check "start, missing directories: status 1" [ $rc -eq 1 ]
check "start, missing directories: the pidfile's named" grep -q "nodir.conf:2: pidfile .* does not exist" <<<"$out"
check "start, missing directories: refused before the start" sh -c "! grep -q 'started on' <<'EOT'
$out
EOT"
touch "$tmp/afile"
printf 'pidfile = "%s/afile/mxguard.pid";\nsocket = "unix:%s/ok.sock";\n%s\n' "$tmp" "$tmp" "$user_line" >"$tmp/notdir.conf"
out=$("$MXGUARD" -n -c "$tmp/notdir.conf" 2>&1); rc=$?
check "-n, pidfile under a file: status 1, says not a directory" \
    sh -c "[ $rc -eq 1 ] && grep -q 'notdir.conf:1: pidfile .*: $tmp/afile is not a directory' <<'EOT'
$out
EOT"
mkdir "$tmp/run"
printf 'pidfile = "%s/run/mxguard.pid";\nsocket = "unix:%s/run/mxguard.sock";\n%s\n' "$tmp" "$tmp" "$user_line" >"$tmp/dirok.conf"
check "-n, the directories exist: OK" sh -c "'$MXGUARD' -n -c '$tmp/dirok.conf' | grep -q OK"

# ---- reload: restart-only settings compared with what the process serves ----
# socket A -> B -> A: the first reload warns that A is still served, the
# second (back to A) warns about nothing; the same for milter_timeout.  The
# socket written the other way (inet:HOST:PORT vs inet:PORT@HOST) is the same.
port=$(free_port)
reload_conf() { # socket milter_timeout
    printf 'socket = "%s";\nmilter_timeout = %s;\n%s\ndns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };\n' \
        "$1" "$2" "$user_line" >"$tmp/reload.conf.new"
    mv "$tmp/reload.conf.new" "$tmp/reload.conf"
}
nlines() { grep -c -- "$1" "$tmp/reload.log"; }
reloaded_n() { [ "$(nlines 'configuration reloaded from')" -ge "$1" ]; }
reload_conf "inet:127.0.0.1:$port" 30
: >"$tmp/reload.log"
"$MXGUARD" -f -c "$tmp/reload.conf" >>"$tmp/reload.log" 2>&1 &
pid=$!
check "reload: started on A" wait_for 10 grep -q "started on inet:$port@127.0.0.1" "$tmp/reload.log"
reload_conf "unix:$tmp/b.sock" 60
kill -HUP "$pid"
check "reload to B: reloaded" wait_for 10 reloaded_n 1
check "reload to B: the socket warning names A, still served" \
    grep -q "reload: socket changes need a restart (still serving inet:$port@127.0.0.1)" "$tmp/reload.log"
check "reload to B: the milter_timeout warning names 30, still in force" \
    grep -q "reload: milter_timeout changes need a restart (still 30)" "$tmp/reload.log"
reload_conf "inet:$port@127.0.0.1" 30
kill -HUP "$pid"
check "reload back to A: reloaded" wait_for 10 reloaded_n 2
check "reload back to A (other spelling): no second socket warning" \
    [ "$(nlines 'reload: socket changes need a restart')" -eq 1 ]
check "reload back to A: no second milter_timeout warning" \
    [ "$(nlines 'reload: milter_timeout changes need a restart')" -eq 1 ]
check "reload back to A: never says B is served" sh -c "! grep -q 'still serving unix:' '$tmp/reload.log'"
check "reload: A still accepts connections" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
stop "$pid"; rc=$?; pid=""
check "reload: exit status 0 after SIGTERM" [ $rc -eq 0 ]

# ---- log_file: a daemon (no -f, no syslog needed) logs to a file, which ----
# logrotate may rename: SIGUSR1 (and SIGHUP) reopen it by name; summary
# --since reads its time stamps.
LOADGEN=${BUILDDIR:-$(dirname "$MXGUARD")}/tests/bench/loadgen
mkdir "$tmp/logs"
[ "$user_line" = 'user = "nobody";' ] && chown nobody "$tmp/logs" # the daemon reopens as nobody
cat >"$tmp/lf.conf" <<EOC
socket = "unix:$tmp/lf.sock";
pidfile = "$tmp/lf.pid";
log_file = "$tmp/logs/mxguard.log";
$user_line
dns = { upstream = "127.0.0.1@1"; timeout_ms = 500; };
spf = { enabled = false; helo = false; };
EOC
printf 'From: <a@sender.example>\nTo: <b@rcpt.example>\nSubject: log_file\n\nbody\n' >"$tmp/lf.eml"
send() { # count: that many messages through the milter socket
    timeout 60 "$LOADGEN" -s "unix:$tmp/lf.sock" -c 1 -n "$1" "$tmp/lf.eml" >>"$tmp/loadgen.out" 2>&1
}
decisions() { grep -c ' mxguard\[[0-9]*\]: decision ' "$1"; }
has_n_decisions() { [ "$(decisions "$1")" -ge "$2" ]; }
lfpid=""
if [ -x "$LOADGEN" ] && "$MXGUARD" -c "$tmp/lf.conf" >"$tmp/lf.out" 2>&1 &&
   wait_for 10 test -s "$tmp/lf.pid"; then
    lfpid=$(cat "$tmp/lf.pid")
    pid=$lfpid
    check "log_file: the daemon (background) writes its start to the file" \
        wait_for 10 grep -q 'mxguard\[[0-9]*\]: mxguard .* started on unix:' "$tmp/logs/mxguard.log"
    check "log_file: lines are time-stamped (RFC 3339) with host and pid" grep -qE \
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}[+-][0-9]{2}:[0-9]{2} [^ ]+ mxguard\[$lfpid\]: " \
        "$tmp/logs/mxguard.log"
    check "log_file: 3 messages sent" send 3
    check "log_file: 3 decision lines in the file" wait_for 10 has_n_decisions "$tmp/logs/mxguard.log" 3
    mv "$tmp/logs/mxguard.log" "$tmp/logs/mxguard.log.1"
    kill -USR1 "$lfpid"
    check "SIGUSR1: a new file by the same name" wait_for 10 test -f "$tmp/logs/mxguard.log"
    check "SIGUSR1: the reopen is logged in the new file" \
        wait_for 10 grep -q "SIGUSR1: reopened the log file $tmp/logs/mxguard.log" "$tmp/logs/mxguard.log"
    check "SIGUSR1: 2 more messages sent" send 2
    check "SIGUSR1: their 2 decision lines go to the new file" wait_for 10 has_n_decisions "$tmp/logs/mxguard.log" 2
    check "SIGUSR1: the renamed file keeps its 3 and gets no more" [ "$(decisions "$tmp/logs/mxguard.log.1")" -eq 3 ]
    mv "$tmp/logs/mxguard.log" "$tmp/logs/mxguard.log.2"
    kill -HUP "$lfpid"
    check "SIGHUP: reopens too, then reloads (logged in the new file)" \
        wait_for 10 grep -q "configuration reloaded from" "$tmp/logs/mxguard.log"
    check "SIGHUP: the reopen is logged" grep -q "SIGHUP: reopened the log file" "$tmp/logs/mxguard.log"
    check "SIGHUP: the rotated file got nothing after the rename" \
        sh -c "! grep -q 'SIGHUP' '$tmp/logs/mxguard.log.2'"
    # summary --since over the files: the time stamps are read (a line without
    # one would be skipped under --since)
    out=$("$MXGUARD" summary --since 1h --format json "$tmp/logs/mxguard.log.1" "$tmp/logs/mxguard.log.2")
    check "summary --since 1h over the rotated files: 5 decisions" grep -q '"decisions": 5,' <<<"$out"
    check "summary --since 1h: none skipped for want of a time stamp" grep -q '"no_timestamp": 0' <<<"$out"
    out=$("$MXGUARD" summary --since "$(date -d tomorrow +%Y-%m-%d)" --format json "$tmp/logs/mxguard.log.1")
    check "summary --since tomorrow: the 3 are before it" grep -q '"before_since": 3' <<<"$out"
    kill -TERM "$lfpid"
    check "log_file: the daemon stops on SIGTERM" wait_for 15 sh -c "! kill -0 $lfpid 2>/dev/null"
    pid=""
    check "log_file: the stop is logged in the file" wait_for 5 grep -q 'mxguard stopped' "$tmp/logs/mxguard.log"
else
    not_ok "log_file: the daemon did not start (or no loadgen at $LOADGEN): $(cat "$tmp/lf.out" 2>/dev/null)"
fi

# Under ASan/UBSan (or valgrind) the daemons' and tools' reports land here.
check "no sanitizer report or crash in any log" \
    bash -c "! cat '$tmp'/*.log '$tmp'/*.out '$tmp/err' 2>/dev/null | grep -qE 'Sanitizer|runtime error:|Segmentation'"

if [ "$failures" -ne 0 ]; then
    for f in "$tmp"/*.log; do echo "---- $f"; cat "$f"; done
    exit 1
fi
exit 0
