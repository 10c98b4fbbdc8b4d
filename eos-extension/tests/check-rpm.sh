#!/usr/bin/env bash
# Checks the RPM with rpm itself: name, version from Cargo, arch x86_64, gzip payload (readable
# by the rpm of every EOS release), the files it installs, no systemd unit, and no Requires
# beyond rpmlib's own feature markers.
#
#   eos-extension/tests/check-rpm.sh RPM
set -euo pipefail
cd "$(dirname "$0")/../.."
RPM="$1"
fail() {
    echo "check-rpm: FAIL: $*" >&2
    exit 1
}

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"

echo "== rpm -qip"
rpm -qip "$RPM"
q() { rpm -qp --qf "$1" "$RPM"; }
[ "$(q '%{NAME}')" = doublezero-bgpstatus ] || fail "name $(q '%{NAME}')"
[ "$(q '%{VERSION}')" = "$VERSION" ] || fail "version $(q '%{VERSION}'), Cargo.toml has $VERSION"
[ "$(q '%{ARCH}')" = x86_64 ] || fail "arch $(q '%{ARCH}')"
[ "$(q '%{PAYLOADCOMPRESSOR}')" = gzip ] || fail "payload compressor $(q '%{PAYLOADCOMPRESSOR}')"

echo "== rpm -qpl"
files="$(rpm -qpl "$RPM")"
echo "$files"
for f in /usr/bin/doublezero-bgpstatus \
    /usr/share/doc/doublezero-bgpstatus/README.md \
    /usr/share/doc/doublezero-bgpstatus/OPERATOR-GUIDE.md \
    /usr/share/doc/doublezero-bgpstatus/doublezero-bgpstatus.eos-config; do
    grep -qx "$f" <<<"$files" || fail "$f is not in the RPM"
done
if grep -q systemd <<<"$files"; then fail "the RPM ships a systemd file; ProcMgr supervises"; fi
mode="$(rpm -qp --qf '[%{FILENAMES} %{FILEMODES:perms}\n]' "$RPM" | sed -n 's|^/usr/bin/doublezero-bgpstatus ||p')"
[ "$mode" = "-rwxr-xr-x" ] || fail "/usr/bin/doublezero-bgpstatus has mode $mode"

echo "== rpm -qpR"
requires="$(rpm -qpR "$RPM")"
echo "$requires"
if grep -v '^rpmlib(' <<<"$requires" | grep -q .; then
    fail "Requires beyond rpmlib: $(grep -v '^rpmlib(' <<<"$requires" | tr '\n' ' ')"
fi
echo "== rpm -i into an empty root (what EOS does with the extension), then run it"
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
rpm --root "$ROOT" --initdb
rpm --root "$ROOT" -i --nosignature "$RPM" || fail "rpm -i into an empty root failed"
"$ROOT/usr/bin/doublezero-bgpstatus" --version || fail "the installed binary does not run"
echo "check-rpm: OK"
