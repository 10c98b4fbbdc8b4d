#!/usr/bin/env bash
# Builds the release binary that ships in the RPM: a statically linked x86_64 executable that
# takes nothing from the switch's userland (no libc, loader, CA bundle or NSS resolver).
#
#   rpm/build-static.sh    prints the binary's path:
#                          $RELEASE_TARGET_DIR/x86_64-unknown-linux-gnu/release/doublezero-bgpstatus
#
# RELEASE_TARGET_DIR defaults to target/release-static: a target dir of its own, so the
# different RUSTFLAGS never invalidate a debug build cache (CARGO_TARGET_DIR is ignored here).
#
# glibc with +crt-static links libc into the executable. `--target` is given explicitly so that
# RUSTFLAGS apply to the target only, never to build scripts and proc-macros (they must stay
# dynamic), and `.cargo/config.toml` stays free of crt-static so tests build normally.
# Name resolution uses hickory (pure Rust) and TLS uses bundled roots, so the glibc NSS caveat
# of static linking does not apply (src/rpc/dns.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$PWD/target/release-static}"
export RUSTFLAGS="-C target-feature=+crt-static ${EXTRA_RUSTFLAGS:-}"

rustup target add "$TARGET" >/dev/null 2>&1 || true
cargo build --release --locked --target "$TARGET" --bin doublezero-bgpstatus >&2

BIN="$CARGO_TARGET_DIR/$TARGET/release/doublezero-bgpstatus"
# A dynamic binary here would be a packaging bug: refuse it rather than ship it. An ELF with a
# PT_INTERP program header (an interpreter, i.e. a loader) is dynamic.
if python3 - "$BIN" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 2, "not a 64-bit ELF"
phoff, = struct.unpack_from("<Q", data, 0x20)
phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
sys.exit(0 if 3 in types else 1)  # PT_INTERP == 3
PY
then
    echo "build-static: $BIN has an ELF interpreter: it is dynamically linked" >&2
    exit 1
fi
echo "build-static: $(stat -c %s "$BIN") bytes: $BIN" >&2
echo "$BIN"
