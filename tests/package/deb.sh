#!/bin/bash
# deb.sh - the Debian package on this machine, end to end (root; CI):
#   - scripts/build-deb.sh builds mxguard_*.deb from a clean clone of HEAD
#     and lintian reports no error and no warning;
#   - "apt-get install ./mxguard_*.deb": every installed path with its owner
#     and mode, the user mxguard in groups mxguard and postfix, the socket
#     directory in Postfix's chroot, the conffile generated from
#     conf/mxguard.conf, the unit enabled; the main.cf lines printed;
#   - "mxguard -n" accepts the installed config; systemd-analyze verify
#     accepts the installed unit;
#   - the unit's ExecStartPre and ExecStart run as the user mxguard (no
#     systemd here), and a message sent through the test Postfix reaches it
#     over /var/spool/postfix/mxguard/mxguard.sock with no permission
#     widened by the test: decision line, delivered with our A-R header;
#   - the dpkg trigger on /usr/sbin/postfix puts mxguard back into group
#     postfix (Postfix installed after mxguard);
#   - a second install keeps the changed conffile; so does an upgrade whose
#     shipped conffile changed (dpkg's question answered "keep");
#   - with /run/systemd/system present (in a mount namespace of its own)
#     and stubs for systemctl and deb-systemd-invoke: the postinst starts
#     on a first install, try-restarts on an upgrade, starts nothing when
#     "mxguard -n" refuses the config; the prerm stops on remove only;
#   - dpkg -r keeps the conffile and the user, dpkg -P leaves nothing behind
#     (the same mxguard-named paths, users and groups as before the test).
# The machine is restored at exit, also on failure: mxguard stopped, the
# package purged (and a mxguard user that existed before, e.g. made by
# scripts/run.sh, made again).  Prints the time from apt-get install to the
# first decision line, and the test's own run time.
#
# Environment: TESTS_SRCDIR, POSTFIX, UNBOUND_SERVER, SYSTEMD_ANALYZE
# (defaults from PATH).  DEB=path uses a built package instead of building
# (lintian is then run on it here).  RIG_KEEP=1 keeps the temporary files.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init deb
T_START=$(rig_now_ms)
SRCDIR=$(cd "$TESTS_SRCDIR/.." && pwd)
HERE="$TESTS_SRCDIR/package"
POSTFIX=${POSTFIX:-$(command -v postfix || echo /usr/sbin/postfix)}
UNBOUND_SERVER=${UNBOUND_SERVER:-$(command -v unbound || echo /usr/sbin/unbound)}
SYSTEMD_ANALYZE=${SYSTEMD_ANALYZE:-$(command -v systemd-analyze || echo /usr/bin/systemd-analyze)}
CONF=/etc/mxguard/mxguard.conf
UNIT=/lib/systemd/system/mxguard.service
SOCKDIR=/var/spool/postfix/mxguard
SOCK=$SOCKDIR/mxguard.sock

[ "$(id -u)" -eq 0 ] || rig_die "needs root (dpkg -i, a private Postfix)"
rig_need_exec systemd-analyze "$SYSTEMD_ANALYZE"
rig_need_exec lintian "$(command -v lintian)"
getent group postfix > /dev/null || rig_die "group postfix missing: scripts/install-deps.sh --test installs Postfix"

# dpkgw ARGS...: dpkg, tried again while another process (apt-get of
# someone else on a shared machine) holds dpkg's lock; at most 10 minutes.
dpkgw() {
    local i=0 st out
    out=$(mktemp)
    while :; do
        dpkg "$@" > "$out" 2>&1; st=$?
        if [ "$st" -ne 0 ] && grep -q 'locked by another process' "$out" && [ $i -lt 300 ]; then
            i=$((i + 1)); sleep 2; continue
        fi
        cat "$out"; rm -f "$out"
        return "$st"
    done
}
export -f dpkgw

# What carries the name mxguard before the test: the same must be there after.
snapshot() {
    find /etc /lib/systemd /usr/sbin /usr/share/doc /usr/share/man /var/lib /var/spool/postfix /run \
        -name '*mxguard*' 2> /dev/null | grep -v '^/var/lib/dpkg/info/mxguard\.' | sort
    getent passwd mxguard; getent group mxguard
    getent group postfix | tr ':,' '\n\n' | grep -x mxguard
}
# A mxguard user the test did not make (scripts/run.sh) is made again at exit.
USER_BEFORE=""
getent passwd mxguard > /dev/null && USER_BEFORE=1
if dpkg-query -W -f='${Status}' mxguard 2> /dev/null | grep -q 'installed\|config-files'; then
    rig_log "mxguard is installed (a previous run?): purging it first"
    dpkgw -P mxguard > "$RIG_TMP/purge0.out" 2>&1 || { cat "$RIG_TMP/purge0.out"; rig_die "cannot purge mxguard"; }
fi
snapshot > "$RIG_TMP/before.txt"

MX_PID=""
stop_mx() {
    [ -n "$MX_PID" ] || return 0
    rig_stop_pid "$MX_PID" 15
    MX_PID=""
}
restore() {
    stop_mx
    if dpkg-query -W mxguard > /dev/null 2>&1; then
        dpkgw -P mxguard > "$RIG_TMP/purge-exit.out" 2>&1 ||
            { rig_log "cannot purge mxguard at exit:"; cat "$RIG_TMP/purge-exit.out"; }
    fi
    if [ -n "$USER_BEFORE" ] && ! getent passwd mxguard > /dev/null; then
        adduser --quiet --system --group --home /nonexistent --no-create-home mxguard
    fi
}
RIG_STOP_HOOKS="restore $RIG_STOP_HOOKS"

# ---- build -------------------------------------------------------------------
# debian/control builds with what scripts/install-deps.sh installs (less
# build-essential, implied, plus debhelper-compat).
bp=$(sed -n '/^BUILD_PKGS="/,/"$/p' "$SRCDIR/scripts/install-deps.sh" | sed 's/BUILD_PKGS="//; s/"//' |
    tr -s ' \n' '\n\n' | grep -vx 'build-essential' | grep . | sort)
bd=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$SRCDIR/debian/control" | sed 's/^Build-Depends://; /^[A-Z]/d' |
    tr ',' '\n' | sed 's/(.*)//; s/ //g' | grep -vx 'debhelper-compat' | grep . | sort)
rig_eq "debian/control Build-Depends are install-deps.sh's BUILD_PKGS" "$bp" "$bd"
if [ -n "${DEB:-}" ]; then
    cp "$DEB" "$RIG_TMP/" || rig_die "no package $DEB"
    lintian --fail-on error,warning "$RIG_TMP/$(basename "$DEB")" 2>&1 |
        grep -v '^running with root' > "$RIG_TMP/lintian.out"
    rig_check "lintian: no error, no warning" test "${PIPESTATUS[0]}" -eq 0
else
    T0=$(rig_now_ms)
    rig_check "scripts/build-deb.sh builds the package from a clean clone" \
        bash -c "'$SRCDIR/scripts/build-deb.sh' '$RIG_TMP' > '$RIG_TMP/build.out' 2>&1" ||
        sed 's/^/#   /' "$RIG_TMP/build.out" | tail -40
    rig_log "build-deb.sh took $(($(rig_now_ms) - T0)) ms"
    rig_check "build-deb.sh ran lintian on the result" grep -q '^build-deb.sh: lintian mxguard_.*\.changes$' "$RIG_TMP/build.out"
    grep -vE '^(running with root|install-deps:|build-deb.sh:)' "$RIG_TMP/build.out" > "$RIG_TMP/lintian.out"
fi
sed 's/^/# lintian: /' "$RIG_TMP/lintian.out"
rig_check "lintian: no E: or W: line" bash -c "! grep -qE '^[EW]: ' '$RIG_TMP/lintian.out'"
DEBFILE=$(ls "$RIG_TMP"/mxguard_*_amd64.deb 2> /dev/null | head -1)
[ -f "$DEBFILE" ] || rig_die "no mxguard_*_amd64.deb built"
rig_eq "the package's conffiles" "$CONF" "$(dpkg-deb -I "$DEBFILE" conffiles)"
want=$(printf '%s\n' ./etc/mxguard/mxguard.conf ./lib/systemd/system/mxguard.service ./usr/sbin/mxguard \
    ./lib/systemd/system/mxguard-report.service ./lib/systemd/system/mxguard-report.timer \
    ./usr/share/doc/mxguard/README.Debian ./usr/share/doc/mxguard/README.md.gz \
    ./usr/share/doc/mxguard/changelog.gz ./usr/share/doc/mxguard/copyright \
    ./usr/share/lintian/overrides/mxguard \
    ./usr/share/man/man5/mxguard.conf.5.gz ./usr/share/man/man8/mxguard.8.gz | sort)
rig_eq "the package ships exactly these files" "$want" \
    "$(dpkg-deb -c "$DEBFILE" | awk '$1 !~ /^d/ {print $6}' | sort)"

# ---- the test's DNS server, smtp-sink and Postfix (before the install) -------
rig_start_dns "$HERE/zone.conf"
rig_start_sink
rig_start_postfix "$SOCK"

# ---- install -----------------------------------------------------------------
T_APT=$(rig_now_ms)
rig_check "apt-get install ./$(basename "$DEBFILE")" bash -c "cd '$RIG_TMP' &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y ./$(basename "$DEBFILE") \
    < /dev/null > '$RIG_TMP/install1.out' 2>&1" || tail -20 "$RIG_TMP/install1.out"
T_APT_DONE=$(rig_now_ms)
# (apt-get's output has CRs: no grep -x)
rig_check "install prints the main.cf lines" \
    grep -q '^    smtpd_milters = unix:mxguard/mxguard.sock' "$RIG_TMP/install1.out"
rig_check "package state: installed" \
    bash -c "dpkg-query -W -f='\${Status}' mxguard | grep -qx 'install ok installed'"

# path owner:group mode [type]
check_path() {
    local got
    got=$(stat -c '%U:%G %a %F' "$1" 2>&1)
    rig_eq "$1" "$2 $3 ${4:-regular file}" "$got"
}
check_path /usr/sbin/mxguard root:root 755
check_path /etc/mxguard root:root 755 directory
check_path "$CONF" root:root 644
check_path "$UNIT" root:root 644
check_path /usr/share/man/man8/mxguard.8.gz root:root 644
check_path /usr/share/man/man5/mxguard.conf.5.gz root:root 644
check_path /usr/share/doc/mxguard/README.Debian root:root 644
check_path "$SOCKDIR" mxguard:postfix 2750 directory
check_path /etc/systemd/system/multi-user.target.wants/mxguard.service root:root 777 "symbolic link"
rig_eq "the unit is enabled (multi-user.target.wants)" "$UNIT" \
    "$(readlink /etc/systemd/system/multi-user.target.wants/mxguard.service)"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd mxguard)
rig_check "user mxguard is a system user (uid $uid < 1000)" test "${uid:-1000}" -lt 1000
rig_eq "user mxguard: primary group mxguard" mxguard "$(getent group "${gid:-x}" | cut -d: -f1)"
rig_eq "user mxguard: home and shell" "/nonexistent /usr/sbin/nologin" "$home $shell"
rig_check "user mxguard is in group postfix" bash -c "id -nG mxguard | tr ' ' '\n' | grep -qx postfix"
rig_check "README.Debian gives the main.cf line" \
    grep -q 'smtpd_milters = unix:mxguard/mxguard.sock' /usr/share/doc/mxguard/README.Debian
rig_check "no logrotate file (mxguard logs to syslog only)" test ! -e /etc/logrotate.d/mxguard
sed -f "$SRCDIR/debian/mxguard-conf.sed" "$SRCDIR/conf/mxguard.conf" > "$RIG_TMP/expected.conf"
rig_check "the conffile is conf/mxguard.conf through debian/mxguard-conf.sed" cmp -s "$RIG_TMP/expected.conf" "$CONF"
rig_check "conffile: socket in Postfix's chroot" \
    grep -qx "socket = \"unix:$SOCK\";" "$CONF"
rig_check "conffile: user mxguard" grep -qx 'user = "mxguard";' "$CONF"
rig_check "mxguard -n -c $CONF passes (root)" bash -c "mxguard -n -c $CONF > '$RIG_TMP/n.out' 2>&1"
rig_check "mxguard -n passes as the user mxguard" \
    setpriv --reuid=mxguard --regid=mxguard --init-groups -- /usr/sbin/mxguard -n -c "$CONF"
rig_check "mxguard -n without -c reads $CONF" bash -c "mxguard -n 2>&1 | grep -q '$CONF OK'"

# ---- the unit ------------------------------------------------------------------
if "$SYSTEMD_ANALYZE" verify --man=no "$UNIT" > "$RIG_TMP/verify.out" 2>&1 && [ ! -s "$RIG_TMP/verify.out" ]; then
    rig_pass "systemd-analyze verify accepts the installed unit without a warning"
else
    rig_fail "systemd-analyze verify: $(tr '\n' ' ' < "$RIG_TMP/verify.out")"
fi
"$SYSTEMD_ANALYZE" security --offline=true "$UNIT" > "$RIG_TMP/security.out" 2>&1
level=$(sed -n 's/.*Overall exposure level for mxguard.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$RIG_TMP/security.out")
rig_match "the installed unit is hardened as from make install (exposure $level)" '^(0|1)\.[0-9] OK$' "$level"
for opt in User=mxguard RuntimeDirectory=mxguard StateDirectory=mxguard \
    "ExecStartPre=/usr/sbin/mxguard -n -c $CONF" "ExecStart=/usr/sbin/mxguard -f -c $CONF"; do
    rig_check "unit: $opt" grep -qx -- "$opt" "$UNIT"
done

RUNIT=/lib/systemd/system/mxguard-report.service
check_path "$RUNIT" root:root 644
check_path /lib/systemd/system/mxguard-report.timer root:root 644
rig_check "report unit: ExecStart=/usr/sbin/mxguard report -c $CONF" \
    grep -qx -- "ExecStart=/usr/sbin/mxguard report -c $CONF" "$RUNIT"
if "$SYSTEMD_ANALYZE" verify --man=no /lib/systemd/system/mxguard-report.timer "$RUNIT" \
    > "$RIG_TMP/verify-report.out" 2>&1 && [ ! -s "$RIG_TMP/verify-report.out" ]; then
    rig_pass "systemd-analyze verify accepts the installed report service and timer without a warning"
else
    rig_fail "systemd-analyze verify (report units): $(tr '\n' ' ' < "$RIG_TMP/verify-report.out")"
fi
rig_check "the report timer is not enabled (reports are off by default)" \
    test ! -e /etc/systemd/system/timers.target.wants/mxguard-report.timer

# ---- run it the way the unit does, send a message through Postfix -------------
# The administrator's change (here: the test's DNS server instead of the
# system resolver, so that nothing leaves 127.0.0.1) is also the changed
# conffile the second install must keep.
sed -i "s|^  upstream = \"system\";.*|  upstream = \"127.0.0.1@$RIG_DNS_PORT\";   # changed by tests/package/deb.sh|" "$CONF"
rig_check "conffile changed (DNS upstream)" grep -q "127.0.0.1@$RIG_DNS_PORT" "$CONF"
cp "$CONF" "$RIG_TMP/changed.conf"
pre=$(sed -n 's/^ExecStartPre=//p' "$UNIT")
start=$(sed -n 's/^ExecStart=//p' "$UNIT")
# shellcheck disable=SC2086 # the unit's command lines
rig_check "ExecStartPre as mxguard: $pre" \
    setpriv --reuid=mxguard --regid=mxguard --init-groups -- $pre
RIG_MX_LOG="$RIG_TMP/mxguard.log"
# shellcheck disable=SC2086
( umask 0007; exec setpriv --reuid=mxguard --regid=mxguard --init-groups -- $start ) > "$RIG_MX_LOG" 2>&1 &
MX_PID=$!
if rig_wait_for 15 bash -c "kill -0 $MX_PID && grep -q 'mxguard .* started on ' '$RIG_MX_LOG'"; then
    rig_pass "ExecStart as mxguard: started on $SOCK"
else
    rig_fail "ExecStart as mxguard did not start"; sed 's/^/#   /' "$RIG_MX_LOG"
fi
rig_eq "process runs as mxguard" mxguard "$(ps -o user= -p "$MX_PID" 2> /dev/null | tr -d ' ')"
check_path "$SOCK" mxguard:postfix 660 socket
QID=""
if rig_smtp_open "$RIG_SMTP_PORT" && rig_smtp_cmd "EHLO mx.pkg.example" &&
    rig_smtp_cmd "XCLIENT ADDR=192.0.2.25 NAME=[UNAVAILABLE]" && [ "$RIG_SMTP_CODE" = 220 ] &&
    rig_smtp_cmd "EHLO mx.pkg.example" && rig_smtp_cmd "MAIL FROM:<alice@pkg.example>" &&
    rig_smtp_cmd "RCPT TO:<bob@dest.example>" && [ "$RIG_SMTP_CODE" = 250 ] &&
    rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] && rig_smtp_data "$HERE/pass.eml" &&
    [ "$RIG_SMTP_CODE" = 250 ]; then
    [[ $RIG_SMTP_TEXT =~ queued\ as\ ([0-9A-Za-z]+) ]] && QID=${BASH_REMATCH[1]}
    rig_pass "message accepted through Postfix and the packaged mxguard (queue id $QID)"
else
    rig_fail "SMTP: $RIG_SMTP_CODE $RIG_SMTP_TEXT"; tail -5 "$RIG_PF_DIR/maillog" | sed 's/^/#   /'
fi
rig_smtp_close
rig_wait_decision "queue_id=${QID:-none}" 10
T_DECISION=$(rig_now_ms)
rig_check_decision "decision" "queue_id=${QID:-none}" stage=eom client_addr=192.0.2.25 \
    mail_from="<alice@pkg.example>" spf=pass action=accept
rig_log "apt-get install took $((T_APT_DONE - T_APT)) ms; apt-get install to the first decision line: $((T_DECISION - T_APT)) ms"
_delivered_pkg() { ls "$RIG_SINK_DIR"/msg.* > /dev/null 2>&1; }
rig_wait_for 15 _delivered_pkg
rig_check "delivered with our Authentication-Results (spf=pass)" \
    bash -c "sed -e ':a;N;\$!ba;s/\n[ \t]/ /g' $RIG_SINK_DIR/msg.* | grep -qE '^Authentication-Results: [^;]+;.* spf=pass'"
rig_check_mxguard_log

# ---- Postfix installed after mxguard: the dpkg trigger ---------------------------
stop_mx
rig_check "mxguard removed its socket on exit" test ! -e "$SOCK"
gpasswd -d mxguard postfix > /dev/null
chgrp mxguard "$SOCKDIR"
dpkg-trigger --by-package=postfix --no-await /usr/sbin/postfix
dpkgw --triggers-only mxguard > "$RIG_TMP/trigger.out" 2>&1
rig_check "trigger on /usr/sbin/postfix: mxguard in group postfix again" \
    bash -c "id -nG mxguard | tr ' ' '\n' | grep -qx postfix"
check_path "$SOCKDIR" mxguard:postfix 2750 directory

# ---- second install over the changed conffile --------------------------------------
T0=$(rig_now_ms)
rig_check "second install (dpkg -i)" bash -c \
    "dpkgw -i '$DEBFILE' < /dev/null > '$RIG_TMP/install2.out' 2>&1" || tail -20 "$RIG_TMP/install2.out"
rig_log "dpkg -i (second install) took $(($(rig_now_ms) - T0)) ms"
rig_check "second install keeps the changed conffile" cmp -s "$RIG_TMP/changed.conf" "$CONF"
rig_check "second install: no .dpkg-dist/.dpkg-new beside it" \
    bash -c "! ls /etc/mxguard/*.dpkg-* > /dev/null 2>&1"
rig_check "second install does not print the main.cf lines again" \
    bash -c "! grep -q smtpd_milters '$RIG_TMP/install2.out'"
check_path "$SOCKDIR" mxguard:postfix 2750 directory

# ---- an upgrade whose shipped conffile changed: dpkg asks, keeps ours --------------
# The same package repacked as version 0.1.0+upgradetest with a line added
# to the shipped mxguard.conf (as a later release would change it).
# --force-confold answers dpkg's conffile question the way an administrator
# keeping their file does; the new default lands beside it as .dpkg-dist.
R="$RIG_TMP/repack"
dpkg-deb -R "$DEBFILE" "$R"
ver=$(sed -n 's/^Version: //p' "$R/DEBIAN/control")
sed -i "s/^Version: .*/Version: $ver+upgradetest/" "$R/DEBIAN/control"
echo '# a line added by a later release (tests/package/deb.sh)' >> "$R/etc/mxguard/mxguard.conf"
(cd "$R" && find etc usr lib -type f ! -path 'etc/*' -exec md5sum {} + > DEBIAN/md5sums)
dpkg-deb -b --root-owner-group "$R" "$RIG_TMP/upgrade.deb" > /dev/null
rig_check "upgrade to $ver+upgradetest (dpkg -i --force-confold)" bash -c \
    "dpkgw -i --force-confold '$RIG_TMP/upgrade.deb' < /dev/null > '$RIG_TMP/upgrade.out' 2>&1" ||
    tail -20 "$RIG_TMP/upgrade.out"
rig_check "upgrade: dpkg reports the conffile modified by the administrator" \
    grep -q 'Modified (by you or by a script) since installation' "$RIG_TMP/upgrade.out"
rig_check "upgrade: the changed conffile is kept" cmp -s "$RIG_TMP/changed.conf" "$CONF"
rig_check "upgrade: the new default is beside it as mxguard.conf.dpkg-dist" \
    cmp -s "$R/etc/mxguard/mxguard.conf" "$CONF.dpkg-dist"
rm -f "$CONF.dpkg-dist"
rig_eq "upgrade: installed version" "$ver+upgradetest" "$(dpkg-query -W -f='${Version}' mxguard)"

# ---- the maintainer scripts' systemd branch ------------------------------------
# systemd is not the init here: the postinst and prerm run once more in a
# mount namespace of their own where /run/systemd/system exists (a tmpfs,
# invisible to the rest of the machine), with deb-systemd-invoke and
# systemctl replaced by stubs that record their arguments.
FAKE="$RIG_TMP/fakebin"
mkdir -p "$FAKE"
for c in deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >> "%s/invoked"\n' "$c" "$RIG_TMP" > "$FAKE/$c"
    chmod 755 "$FAKE/$c"
done
printf 'socket = ;\n' > "$RIG_TMP/bad.conf"
# under_systemd CONF-OR-"" SCRIPT ARGS...: output in $RIG_TMP/script.out
under_systemd() {
    : > "$RIG_TMP/invoked"
    # shellcheck disable=SC2016 # expanded by the inner bash
    unshare -m bash -c 'mount -t tmpfs none /run/systemd && mkdir /run/systemd/system &&
        { [ -z "$1" ] || mount --bind "$1" /etc/mxguard/mxguard.conf; } &&
        PATH="$2:$PATH" "/var/lib/dpkg/info/mxguard.$3" "${@:4}"' _ "$1" "$FAKE" "${@:2}" > "$RIG_TMP/script.out" 2>&1
}
under_systemd "" postinst configure
rig_eq "systemd, first install: daemon-reload, then start" \
    "systemctl --system daemon-reload|deb-systemd-invoke start mxguard.service" \
    "$(grep -v deb-systemd-helper "$RIG_TMP/invoked" | paste -sd'|')"
rig_check "systemd, first install: prints the main.cf lines" grep -q 'smtpd_milters = unix:mxguard/mxguard.sock' "$RIG_TMP/script.out"
under_systemd "" postinst configure 0.1.0
rig_eq "systemd, upgrade: try-restart (restarts only a running service)" \
    "systemctl --system daemon-reload|deb-systemd-invoke try-restart mxguard.service" \
    "$(grep -v deb-systemd-helper "$RIG_TMP/invoked" | paste -sd'|')"
under_systemd "$RIG_TMP/bad.conf" postinst configure
rig_check "systemd, config refused by mxguard -n: not started" bash -c "! grep -q deb-systemd-invoke '$RIG_TMP/invoked'"
rig_check "systemd, config refused: says so" grep -q 'does not pass "mxguard -n": not starting' "$RIG_TMP/script.out"
under_systemd "" prerm upgrade
rig_eq "systemd, prerm upgrade: no stop" "" "$(cat "$RIG_TMP/invoked")"
under_systemd "" prerm remove
rig_eq "systemd, prerm remove: stop" "deb-systemd-invoke stop mxguard.service" "$(cat "$RIG_TMP/invoked")"
rig_check "the changed conffile is still there" cmp -s "$RIG_TMP/changed.conf" "$CONF"

# ---- dpkg -r, then dpkg -P -----------------------------------------------------------
rig_check "dpkg -r mxguard" bash -c "dpkgw -r mxguard > '$RIG_TMP/remove.out' 2>&1"
rig_check "after -r: state config-files" \
    bash -c "dpkg-query -W -f='\${Status}' mxguard | grep -qx 'deinstall ok config-files'"
rig_check "after -r: the binary, unit and man pages are gone" bash -c \
    "! ls /usr/sbin/mxguard $UNIT $RUNIT /lib/systemd/system/mxguard-report.timer /usr/share/man/man8/mxguard.8.gz /usr/share/doc/mxguard > /dev/null 2>&1"
rig_check "after -r: the changed conffile is kept" cmp -s "$RIG_TMP/changed.conf" "$CONF"
rig_check "after -r: the user mxguard is kept" bash -c "getent passwd mxguard > /dev/null"
rig_check "dpkg -P mxguard" bash -c "dpkgw -P mxguard > '$RIG_TMP/purge.out' 2>&1"
rig_check "after -P: dpkg knows no mxguard" bash -c "! dpkg-query -W mxguard > /dev/null 2>&1"
rig_check "after -P: no user or group mxguard" bash -c "! getent passwd mxguard && ! getent group mxguard"
for p in /etc/mxguard "$SOCKDIR" /var/lib/mxguard /etc/systemd/system/multi-user.target.wants/mxguard.service \
    /var/lib/systemd/deb-systemd-helper-enabled/mxguard.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/mxguard-report.timer.dsh-also; do
    rig_check "after -P: $p is gone" test ! -e "$p" -a ! -L "$p"
done
if [ -z "$USER_BEFORE" ]; then
    snapshot > "$RIG_TMP/after.txt"
    rig_check "after -P: what is named mxguard is what was there before" \
        diff "$RIG_TMP/before.txt" "$RIG_TMP/after.txt"
fi
rig_log "package test: $(($(rig_now_ms) - T_START)) ms"
rig_finish
