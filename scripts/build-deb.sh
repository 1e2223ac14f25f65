#!/bin/sh
# build-deb.sh - build the Debian package mxguard_VERSION_ARCH.deb from a
# clean copy of the committed tree (git clone of HEAD into a temporary
# directory: nothing uncommitted or built in this tree gets in), then check
# it with lintian.
#   scripts/build-deb.sh [OUTDIR]     (default: the top of the tree)
# Installs what it needs first (scripts/install-deps.sh --deb).  Prints the
# path of the .deb last; then: apt install ./mxguard_*.deb
# The package build does not run make check (debian/rules): scripts/test.sh
# does, and tests/package/deb.sh tests the package itself.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "${1:-$top}" && pwd)
"$top/scripts/install-deps.sh" --deb

if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
    echo "build-deb.sh: note: uncommitted changes are not in the package (it is built from HEAD)"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mxguard-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
git clone -q "$top" "$tmp/mxguard"
echo "build-deb.sh: building $(git -C "$tmp/mxguard" rev-parse --short HEAD) in $tmp/mxguard"
(cd "$tmp/mxguard" && DEB_BUILD_OPTIONS="nocheck parallel=2${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
    dpkg-buildpackage -us -uc -b > "$tmp/build.log" 2>&1) ||
    { tail -n 60 "$tmp/build.log"; echo "build-deb.sh: dpkg-buildpackage failed" >&2; exit 1; }
changes=$(ls "$tmp"/mxguard_*.changes)
deb=$(ls "$tmp"/mxguard_*.deb)
# lintian: errors fail the build; warnings are fixed or overridden with a
# reason in debian/mxguard.lintian-overrides.
echo "build-deb.sh: lintian $(basename "$changes")"
st=0
lintian --fail-on error,warning "$changes" > "$tmp/lintian.out" 2>&1 || st=$?
grep -v '^running with root privileges' "$tmp/lintian.out" || true
[ "$st" -eq 0 ] || { echo "build-deb.sh: lintian reports errors or warnings" >&2; exit 1; }
cp "$deb" "$out/"
echo "build-deb.sh: built $out/$(basename "$deb")"
