#!/usr/bin/env bash
# Checks the RPM with rpm itself: name, version from Cargo, arch i686, gzip payload (readable
# by the rpm of every EOS release), the files it installs, no systemd unit, and no Requires
# beyond rpmlib's own feature markers. Then installs it with a plain `rpm -i` (no --ignorearch,
# --nodeps or --nosignature) into empty roots as a 64-bit EOS userland and as a 32-bit one would
# (`setarch i686`: rpm takes its arch from uname), and runs the binary each installed.
#
#   eos-extension/tests/check-rpm.sh RPM
#
# Needs rpm and rpmbuild (Debian's rpm package) and util-linux's setarch.
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
[ "$(q '%{ARCH}')" = i686 ] || fail "arch $(q '%{ARCH}')"
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
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Runs a command as a 64-bit or a 32-bit EOS userland would. rpm takes its arch from uname, which
# says i686 under `setarch i686`, so rpm then checks packages against the i686 compat list, as
# on a 32-bit image (whose kernel is x86_64 too).
as_userland() { # 64-bit|32-bit COMMAND...
    local userland="$1"
    shift
    if [ "$userland" = 32-bit ]; then setarch i686 "$@"; else "$@"; fi
}

for userland in 64-bit 32-bit; do
    echo "== rpm's arch as a $userland userland sees it"
    as_userland "$userland" rpm --showrc | grep -E '^(install arch|compatible archs) '
done

# The 32-bit case proves something only if rpm under setarch refuses x86_64 as a 32-bit image
# does ("is intended for a different architecture", eos.md §9 item 6): an empty x86_64 package
# must be refused there.
echo "== control: a 32-bit userland refuses an x86_64 package"
mkdir -p "$WORK/control" "$WORK/control-root"
cat >"$WORK/control/control.spec" <<'SPEC'
Name: arch-control
Version: 1
Release: 1
Summary: An empty x86_64 package
License: none
BuildArch: x86_64
%description
An empty x86_64 package.
%files
SPEC
rpmbuild -bb --quiet --define "_topdir $WORK/control" "$WORK/control/control.spec"
rpm --root "$WORK/control-root" --initdb
if as_userland 32-bit rpm --root "$WORK/control-root" -i "$WORK"/control/RPMS/x86_64/*.rpm \
    2>"$WORK/control.err"; then
    fail "rpm under setarch i686 installed an x86_64 package: it does not act as a 32-bit userland"
fi
grep 'intended for a different architecture' "$WORK/control.err" \
    || fail "the x86_64 control package failed for another reason: $(cat "$WORK/control.err")"

for userland in 64-bit 32-bit; do
    echo "== rpm -i into an empty root as a $userland userland (as EOS installs it), then run it"
    root="$WORK/root-$userland"
    mkdir "$root"
    as_userland "$userland" rpm --root "$root" --initdb
    as_userland "$userland" rpm --root "$root" -i "$RPM" \
        || fail "rpm -i as a $userland userland failed"
    as_userland "$userland" rpm --root "$root" -q doublezero-bgpstatus
    as_userland "$userland" "$root/usr/bin/doublezero-bgpstatus" --version \
        || fail "the binary installed as a $userland userland does not run"
done
echo "check-rpm: OK"
