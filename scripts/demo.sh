#!/bin/bash
# demo.sh - see mxguard work in a minute, on this machine, on 127.0.0.1 only:
# installs the packages it needs (scripts/install-deps.sh --test), builds
# mxguard (build/demo), then runs tests/demo/demo.sh: a private Postfix, a
# DNS server with a small example zone and mxguard with conf/mxguard.conf
# (its dry-run rules made enforcing) plus a demo policy; five messages
# (authentic, SPF fail, DKIM broken, DMARC spoof, listed client) with the
# SMTP outcome, the decision line and the delivered copy's
# Authentication-Results of each; then "mxguard explain" and "mxguard
# summary" on them.  Everything it starts is stopped at the end; the host's
# /etc/postfix and /etc/resolv.conf are never written.  Needs root (sudo is
# used when not root) for the private Postfix instance.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
"$top/scripts/build.sh" demo
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# The demo is also a test (make check): its "ok N - ..." lines are left out here.
$SUDO env MXGUARD="$top/build/demo/mxguard" TESTS_SRCDIR="$top/tests" \
    POSTFIX="$(command -v postfix || echo /usr/sbin/postfix)" \
    UNBOUND_SERVER="$(command -v unbound || echo /usr/sbin/unbound)" \
    bash "$top/tests/demo/demo.sh" | grep -v '^ok [0-9]'
