#!/bin/sh
# install-deps.sh - install the Debian 12 packages mxguard needs.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --deb    also what building the Debian package needs
#   scripts/install-deps.sh --test   also what the test suite needs (this
#                                    includes the --deb set: tests/package/deb.sh)
# Runs apt-get as root (directly, or through sudo when not root).
set -eu

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  libspf2-dev libopendkim-dev libopendmarc-dev libconfig-dev
  libunbound-dev libidn2-dev publicsuffix libevent-dev nettle-dev libmicrohttpd-dev libyaml-dev check
  zlib1g-dev libsqlite3-dev libpq-dev"
# The Debian package (scripts/build-deb.sh, debian/): dpkg-buildpackage
# with debhelper 13 (dh-autoreconf comes with it), fakeroot, and lintian to
# check the result.  debian/control's Build-Depends are BUILD_PKGS.
DEB_PKGS="debhelper dpkg-dev fakeroot lintian"
# prometheus: for its promtool (tests/e2e/metrics.sh checks the scrape with
# it; about 96 MB installed).  Where package installs start services, Debian
# starts a Prometheus server on :9090 too; the tests never use it
# (systemctl disable --now prometheus).  systemd: systemd-analyze verify of
# the unit (tests/install/install.sh); it need not be the running init.
TEST_PKGS="miltertest postfix unbound valgrind procps util-linux prometheus systemd"
# jq: tests/demo/demo.sh reads "mxguard summary --format json" with it.
TEST_PKGS="$TEST_PKGS jq"
# clang 14 and its libFuzzer runtime (libclang_rt.fuzzer in
# libclang-rt-14-dev): the configure --enable-fuzzing build of test.sh.
TEST_PKGS="$TEST_PKGS clang libclang-rt-14-dev"
# python3-dkim, python3-nacl, openssl: tests/bench/mkcorpus.py signs the benchmark
# corpus (tests/bench/loadgen.sh in make check, and make bench).
TEST_PKGS="$TEST_PKGS python3-dkim python3-nacl openssl"
# libxml2-utils: xmllint --schema validates the DMARC aggregate reports
# (tests/unit/report/test_dmarcxml.c) against the RFC 9990 schema.
TEST_PKGS="$TEST_PKGS libxml2-utils"
# postgresql: the DMARC report store's PostgreSQL tests start a private
# server (initdb, pg_ctl) in a temporary directory on a unix socket; the
# cluster Debian's package may create and start is never used.  sqlite3: the
# tests look into the SQLite store with its shell.
TEST_PKGS="$TEST_PKGS postgresql sqlite3"
# m4: tests/e2e/sendmail.sh makes the private Sendmail's .cf with it.
TEST_PKGS="$TEST_PKGS m4"
# Sendmail for tests/e2e/sendmail.sh: downloaded (apt-get download), never
# installed: sendmail-bin conflicts with postfix.  The test unpacks the .debs
# (dpkg -x) into its temporary directory; libwrap0 and liblockfile1 are
# libraries sendmail needs that a Postfix machine lacks.
SENDMAIL_DEBS=${SENDMAIL_DEBS:-/var/cache/mxguard-tests/sendmail}
SENDMAIL_PKGS="sendmail-bin sendmail-base sendmail-cf libwrap0 liblockfile1"

pkgs=$BUILD_PKGS
case ${1:-} in
    --deb) pkgs="$pkgs $DEB_PKGS" ;;
    --test) pkgs="$pkgs $DEB_PKGS $TEST_PKGS" ;;
    "") ;;
    *) echo "usage: $0 [--deb|--test]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
updated=""
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
else
    echo "install-deps: installing:$missing"
    # postfix asks debconf questions: answer "No configuration" so the host's own
    # mail setup is never touched (the tests run a private instance).
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    updated=1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi

[ "${1:-}" = "--test" ] || exit 0
# The Sendmail packages, kept in $SENDMAIL_DEBS (fetched once).
dl=""
for p in $SENDMAIL_PKGS; do
    ls "$SENDMAIL_DEBS/${p}_"*.deb > /dev/null 2>&1 || dl="$dl $p"
done
if [ -z "$dl" ]; then
    echo "install-deps: Sendmail packages present in $SENDMAIL_DEBS"
    exit 0
fi
echo "install-deps: downloading into $SENDMAIL_DEBS (not installing):$dl"
$SUDO mkdir -p "$SENDMAIL_DEBS"
# APT::Sandbox::User=root: the _apt user may not write into the cache dir.
download() {
    (cd "$SENDMAIL_DEBS" && $SUDO apt-get -qq -o APT::Sandbox::User=root download $dl)
}
if ! download; then
    [ -z "$updated" ] && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # Not fatal here: every other test can still run; tests/e2e/sendmail.sh
    # and tests/e2e/latency.sh fail and say why.
    download || echo "install-deps: could not download$dl into $SENDMAIL_DEBS: tests/e2e/sendmail.sh and latency.sh will fail" >&2
fi
