#!/bin/bash
# install.sh - "make install DESTDIR=..." from the build directory puts
# every file where mxguard(8) says (binary in sbindir, both man pages, the
# config in sysconfdir, the systemd unit in the unit directory) and nothing
# else; a second install keeps a changed config; "make uninstall" removes
# everything but a changed config; systemd-analyze verify accepts the
# installed unit (with its paths pointed at the DESTDIR copy, since no
# mxguard is installed on this machine) and its hardening gives an
# "OK" exposure level (systemd-analyze security --offline).  Needs no
# running systemd.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): BUILDDIR, MXGUARD,
# TESTS_SRCDIR, SYSTEMD_ANALYZE.  RIG_KEEP=1 keeps the temporary files.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init install
SRCDIR=$(cd "$TESTS_SRCDIR/.." && pwd)
BUILDDIR=${BUILDDIR:-$(dirname "${MXGUARD:-}")}
SYSTEMD_ANALYZE=${SYSTEMD_ANALYZE:-$(command -v systemd-analyze || echo /usr/bin/systemd-analyze)}

[ -f "$BUILDDIR/Makefile" ] || rig_die "no Makefile in BUILDDIR '$BUILDDIR'"
rig_need_exec systemd-analyze "$SYSTEMD_ANALYZE"

# A make of our own, not a part of the "make check" running us.
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$BUILDDIR" "$@"; }

prefix="" sbindir="" mandir="" sysconfdir="" systemdsystemunitdir=""
eval "$(submake print-install-dirs | grep -E '^[a-z]+=/')"
for v in prefix sbindir mandir sysconfdir systemdsystemunitdir; do
    [ -n "${!v:-}" ] || rig_die "make print-install-dirs gave no $v"
done
rig_log "sbindir=$sbindir mandir=$mandir sysconfdir=$sysconfdir unitdir=$systemdsystemunitdir"

D="$RIG_TMP/root"
# ---- first install ---------------------------------------------------------
rig_check "make install DESTDIR=... succeeds" \
    bash -c "$(declare -f submake); submake install DESTDIR='$D' > '$RIG_TMP/install1.out' 2>&1" ||
    sed 's/^/#   /' "$RIG_TMP/install1.out"
want=$(printf '%s\n' "$sbindir/mxguard" "$mandir/man8/mxguard.8" "$mandir/man5/mxguard.conf.5" \
    "$sysconfdir/mxguard.conf" "$systemdsystemunitdir/mxguard.service" \
    "$systemdsystemunitdir/mxguard-report.service" "$systemdsystemunitdir/mxguard-report.timer" | sort)
got=$(cd "$D" && find . -type f | sed 's|^\.||' | sort)
rig_eq "exactly the documented files are installed" "$want" "$got"
rig_check "the binary is executable and runs" bash -c "'$D$sbindir/mxguard' -V > /dev/null"
rig_check "the installed config is the shipped one" cmp -s "$SRCDIR/conf/mxguard.conf" "$D$sysconfdir/mxguard.conf"
# -n also checks that the socket's directory exists (/run/mxguard, which
# systemd's RuntimeDirectory= creates before ExecStartPre runs -n): so the
# config is accepted as it is when it exists, and otherwise that is the one
# error; with the socket in a directory that exists, it is accepted.
"$D$sbindir/mxguard" -n -c "$D$sysconfdir/mxguard.conf" > "$RIG_TMP/n.out" 2>&1; st=$?
if [ -d /run/mxguard ]; then
    rig_eq "the installed binary accepts the installed config (-n)" 0 "$st"
else
    rig_eq "-n on the installed config without /run/mxguard: status 1" 1 "$st"
    rig_eq "-n: one error" 1 "$(wc -l < "$RIG_TMP/n.out")"
    rig_check "-n: the error is the missing socket directory, at the socket line" grep -qx \
        "$D$sysconfdir/mxguard.conf:[0-9]*: socket \"unix:/run/mxguard/mxguard.sock\": the directory /run/mxguard does not exist; create it first" \
        "$RIG_TMP/n.out"
fi
sed "s|^socket = .*|socket = \"unix:$RIG_TMP/mxguard.sock\";|" "$D$sysconfdir/mxguard.conf" > "$RIG_TMP/n.conf"
rig_check "the installed binary accepts the installed config with an existing socket directory (-n)" \
    bash -c "'$D$sbindir/mxguard' -n -c '$RIG_TMP/n.conf' > /dev/null"
# The man pages name the config where this build looks for it (the
# sources say /etc/mxguard.conf, a distribution's sysconfdir).
for page in man8/mxguard.8 man5/mxguard.conf.5; do
    src="$SRCDIR/man/${page#*/}"
    rig_check "$page is the shipped one with the configured config path" \
        cmp -s <(sed "s|/etc/mxguard\.conf|$sysconfdir/mxguard.conf|g" "$src") "$D$mandir/$page"
    rig_check "$page names $sysconfdir/mxguard.conf" grep -q "$sysconfdir/mxguard\.conf" "$D$mandir/$page"
    if [ "$sysconfdir" != /etc ]; then
        rig_check "$page does not name /etc/mxguard.conf (sysconfdir is $sysconfdir)" \
            bash -c "! grep -Eq '(^|[^a-z/])/etc/mxguard\.conf' '$D$mandir/$page'"
    fi
    # Postfix resolves a relative unix: milter path in its queue directory,
    # chrooted or not: one form, the one that works both ways.
    rig_check "$page: smtpd_milters never names an absolute unix: path (chroot-only)" \
        bash -c "! grep -Eq 'milters = unix:/|milters \" \\(\" unix:/' '$D$mandir/$page'"
done
rig_check "README: smtpd_milters never names an absolute unix: path" \
    bash -c "! grep -Eq 'milters = unix:/' '$SRCDIR/README.md'"
rig_check "mxguard -h names the configured config as the default" \
    grep -q "default $sysconfdir/mxguard.conf" <("$D$sbindir/mxguard" -h)
case "$systemdsystemunitdir/" in
"$prefix"/*) ;;
*) rig_check "make install says the systemd unit went outside the prefix" \
       grep -q "mxguard: the systemd unit went to $D$systemdsystemunitdir/mxguard.service, outside the prefix" \
       "$RIG_TMP/install1.out" ;;
esac

UNIT="$D$systemdsystemunitdir/mxguard.service"
rig_eq "unit: ExecStart uses the installed paths" \
    "ExecStart=$sbindir/mxguard -f -c $sysconfdir/mxguard.conf" "$(grep '^ExecStart=' "$UNIT")"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
rig_eq "unit: ExecReload sends SIGHUP" 'ExecReload=/bin/kill -HUP $MAINPID' "$(grep '^ExecReload=' "$UNIT")"
for opt in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
           'ReadWritePaths=-/var/spool/postfix/mxguard -/run/mxguard' User=mxguard; do
    rig_check "unit: $opt" grep -qx -- "$opt" "$UNIT"
done
rig_check "unit: no @placeholder@ left" bash -c "! grep -q '@[a-z]*@' '$UNIT'"

# systemd-analyze verify: the unit as installed, its paths pointed at the
# DESTDIR copies (the real paths do not exist on a machine without mxguard
# installed).  A unit name of its own so nothing on this machine is meant.
mkdir -p "$RIG_TMP/unit"
V="$RIG_TMP/unit/mxguard.service"
sed -e "s|$sbindir/mxguard|$D$sbindir/mxguard|g" -e "s|$sysconfdir/mxguard.conf|$D$sysconfdir/mxguard.conf|g" \
    "$UNIT" > "$V"
if "$SYSTEMD_ANALYZE" verify --man=no "$V" > "$RIG_TMP/verify.out" 2>&1 && [ ! -s "$RIG_TMP/verify.out" ]; then
    rig_pass "systemd-analyze verify accepts the unit without a warning"
else
    rig_fail "systemd-analyze verify: $(tr '\n' ' ' < "$RIG_TMP/verify.out")"
fi
# The check can fail: a unit whose binary is missing is refused.
sed "s|^ExecStart=.*|ExecStart=$RIG_TMP/no-such-mxguard -f|" "$V" > "$RIG_TMP/unit/broken.service"
rig_check "systemd-analyze verify refuses a unit whose binary is missing" \
    bash -c "! '$SYSTEMD_ANALYZE' verify --man=no '$RIG_TMP/unit/broken.service' > /dev/null 2>&1"
"$SYSTEMD_ANALYZE" security --offline=true "$V" > "$RIG_TMP/security.out" 2>&1
level=$(sed -n 's/.*Overall exposure level for mxguard.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$RIG_TMP/security.out")
rig_log "systemd-analyze security --offline: exposure $level"
rig_match "unit: exposure level OK (below 2.0)" '^(0|1)\.[0-9] OK$' "$level"

# mxguard report, hourly (retries and deferrals are due an hour later): the oneshot service and its timer.
RUNIT="$D$systemdsystemunitdir/mxguard-report.service"
TUNIT="$D$systemdsystemunitdir/mxguard-report.timer"
rig_eq "report unit: ExecStart uses the installed paths" \
    "ExecStart=$sbindir/mxguard report -c $sysconfdir/mxguard.conf" "$(grep '^ExecStart=' "$RUNIT")"
for opt in Type=oneshot User=mxguard StateDirectory=mxguard; do
    rig_check "report unit: $opt" grep -qx -- "$opt" "$RUNIT"
done
rig_check "report unit: no @placeholder@ left" bash -c "! grep -q '@[a-z]*@' '$RUNIT'"
for opt in 'OnCalendar=*-*-* *:30:00 UTC' Persistent=true RandomizedDelaySec=15min WantedBy=timers.target; do
    rig_check "report timer: $opt" grep -qxF -- "$opt" "$TUNIT"
done
sed -e "s|$sbindir/mxguard|$D$sbindir/mxguard|g" -e "s|$sysconfdir/mxguard.conf|$D$sysconfdir/mxguard.conf|g" \
    "$RUNIT" > "$RIG_TMP/unit/mxguard-report.service"
cp "$TUNIT" "$RIG_TMP/unit/mxguard-report.timer"
if "$SYSTEMD_ANALYZE" verify --man=no "$RIG_TMP/unit/mxguard-report.timer" "$RIG_TMP/unit/mxguard-report.service" \
    > "$RIG_TMP/verify-report.out" 2>&1 && [ ! -s "$RIG_TMP/verify-report.out" ]; then
    rig_pass "systemd-analyze verify accepts mxguard-report.service and .timer without a warning"
else
    rig_fail "systemd-analyze verify (report units): $(tr '\n' ' ' < "$RIG_TMP/verify-report.out")"
fi
rig_check "mxguard report -h runs" bash -c "'$D$sbindir/mxguard' report -h | grep -q '^usage: mxguard report'"

# ---- a second install keeps a changed config --------------------------------
echo '# changed by the administrator' >> "$D$sysconfdir/mxguard.conf"
cp "$D$sysconfdir/mxguard.conf" "$RIG_TMP/changed.conf"
submake install DESTDIR="$D" > "$RIG_TMP/install2.out" 2>&1
rig_check "second install: the changed config is kept" cmp -s "$RIG_TMP/changed.conf" "$D$sysconfdir/mxguard.conf"
rig_check "second install: says it kept it" grep -q "keeping the existing .*mxguard.conf" "$RIG_TMP/install2.out"
rig_eq "second install: the same files" "$want" "$(cd "$D" && find . -type f | sed 's|^\.||' | sort)"

# ---- uninstall ---------------------------------------------------------------
submake uninstall DESTDIR="$D" > "$RIG_TMP/uninstall.out" 2>&1
rig_eq "uninstall: only the changed config is left" "$sysconfdir/mxguard.conf" \
    "$(cd "$D" && find . -type f | sed 's|^\.||' | sort)"
D2="$RIG_TMP/root2"
submake install DESTDIR="$D2" > /dev/null 2>&1
submake uninstall DESTDIR="$D2" > /dev/null 2>&1
rig_eq "uninstall after a plain install: nothing left" "" "$(find "$D2" -type f)"

rig_finish
