# daemonlib.sh - what the daemon's own tests (tests/integration/daemon.sh,
# operator.sh) share: a private temporary directory (0755: the postfix user
# may need the socket in it), the daemon's pid to kill at exit, TAP-style
# ok / not ok lines with a failure count, a bounded wait, and the user line
# of a test config (user "nobody" when run as root, else DL_USER_LINE).
#
# Source it from bash after setting DL_NAME (the temp dir's name) and,
# optionally, DL_USER_LINE:  DL_NAME=daemon . "$TESTS_SRCDIR/lib/daemonlib.sh"
# Sets MXGUARD (required from the environment), tmp, pid, failures,
# user_line; the temp dir is removed at exit unless a check failed.
set -u
MXGUARD=${MXGUARD:?MXGUARD must name the built daemon}
tmp=$(mktemp -d "/tmp/mxguard-${DL_NAME:?DL_NAME must be set}.XXXXXX")
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

user_line=${DL_USER_LINE:-}
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then user_line='user = "nobody";'; fi
