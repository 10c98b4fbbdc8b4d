#!/usr/bin/env bash
# Proves the release binary needs nothing from the switch's userland: it runs `--version`,
# `peers` against an eAPI unix socket and `users` against the ledger simulator reached BY HOST
# NAME, inside an empty chroot that holds only the binary, /etc/hosts, /etc/resolv.conf, the
# device nodes /dev/null, /dev/random, /dev/urandom, and the eAPI socket the test serves into it.
# No libc, loader, CA bundle, NSS module or resolver library is present.
#
#   eos-extension/tests/chroot-test.sh STATIC_BINARY LEDGER_SIM_BINARY EAPI_SIM_BINARY
#
# Needs root (chroot, mknod) and python3.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "$1")"
LEDGER_SIM="$(realpath "$2")"
EAPI_SIM="$(realpath "$3")"

if [ "$(id -u)" != 0 ]; then
    echo "chroot-test: needs root (chroot and mknod)" >&2
    exit 1
fi

CHROOT="$(command -v chroot)"
WORK="$(mktemp -d)"
ROOT="$WORK/root"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "chroot-test: FAIL: $*" >&2
    exit 1
}

mkdir -p "$ROOT/etc" "$ROOT/dev" "$ROOT/run"
install -m 0755 "$BIN" "$ROOT/doublezero-bgpstatus"
# The ledger's name exists only here; the resolver must read /etc/hosts itself. The nameserver
# is a closed local port, so a name missing from /etc/hosts fails fast instead of leaking out.
cat >"$ROOT/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.0.1 ledger.dz.test
HOSTS
echo "nameserver 127.0.0.1" >"$ROOT/etc/resolv.conf"
mknod -m 0666 "$ROOT/dev/null" c 1 3
mknod -m 0666 "$ROOT/dev/random" c 1 8
mknod -m 0666 "$ROOT/dev/urandom" c 1 9

echo "chroot-test: contents of the chroot:"
(cd "$ROOT" && find . -mindepth 1 | sort | sed 's/^/  /')

in_chroot() {
    env -i PATH=/ "$CHROOT" "$ROOT" /doublezero-bgpstatus "$@"
}

# A ready line on a fifo tells when each server listens.
wait_ready() { # fifo, name, log
    local line
    if ! read -r -t 120 line <"$1"; then
        cat "$3" >&2
        fail "$2 did not start"
    fi
    echo "$line"
}

echo "== --version"
out="$(in_chroot --version)" || fail "--version exited $?"
echo "$out"
grep -q '^doublezero-bgpstatus [0-9]' <<<"$out" || fail "--version printed: $out"

echo "== peers over the eAPI unix socket"
mkfifo "$WORK/eapi.ready"
"$EAPI_SIM" --socket "$ROOT/run/command-api.sock" --demo-users 3 \
    >"$WORK/eapi.ready" 2>"$WORK/eapi.log" &
PIDS+=($!)
wait_ready "$WORK/eapi.ready" eapi-sim "$WORK/eapi.log" >/dev/null
out="$(in_chroot peers --eapi-socket /run/command-api.sock --json)" || {
    cat "$WORK/eapi.log" >&2
    fail "peers exited non-zero"
}
echo "$out" | head -c 600
echo
python3 -c 'import json,sys; rows=json.load(sys.stdin); assert len(rows) == 3, rows; assert any(r["peer"]=="169.254.0.1" and r["tunnel"]=="Tunnel500" and r["tunnel_status"]=="up" for r in rows), rows' <<<"$out" \
    || fail "peers did not list the demo sessions on their tunnels"

echo "== users from the ledger simulator, by host name"
mkfifo "$WORK/ledger.ready"
"$LEDGER_SIM" --listen 127.0.0.1:0 --demo 3 --demo-keypair "$WORK/publisher.json" \
    >"$WORK/ledger.ready" 2>"$WORK/ledger.log" &
PIDS+=($!)
ready="$(wait_ready "$WORK/ledger.ready" ledger-sim "$WORK/ledger.log")"
port="$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.urlparse(json.loads(sys.stdin.read())["rpc_url"]).port)' <<<"$ready")"
program="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["program_id"])' <<<"$ready")"
out="$(in_chroot users --rpc-url "http://ledger.dz.test:$port" --program-id "$program" \
    --allow-insecure-http --json)" || {
    cat "$WORK/ledger.log" >&2
    fail "users exited non-zero"
}
echo "$out" | head -c 600
echo
python3 -c 'import json,sys; rows=json.load(sys.stdin); assert len(rows) == 3, rows' <<<"$out" \
    || fail "users did not list the 3 demo users"

echo "== a name absent from /etc/hosts fails cleanly (no NSS fallback, no crash)"
if in_chroot users --rpc-url "http://no-such-host.dz.test:$port" --program-id "$program" \
    --allow-insecure-http --json >/dev/null 2>"$WORK/nohost.err"; then
    fail "users succeeded against an unresolvable host"
fi
head -c 400 "$WORK/nohost.err"
echo

echo "chroot-test: OK"
