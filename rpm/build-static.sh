#!/usr/bin/env bash
# Builds the release binary that ships in the RPM: a statically linked x86_64 executable that
# takes nothing from the switch's userland (no libc, loader, CA bundle or NSS resolver).
#
#   rpm/build-static.sh            -> $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/doublezero-bgpstatus
#
# glibc with +crt-static links libc into the executable. `--target` is given explicitly so that
# RUSTFLAGS apply to the target only, never to build scripts and proc-macros (they must stay
# dynamic), and `.cargo/config.toml` stays free of crt-static so tests build normally.
# Name resolution uses hickory (pure Rust) and TLS uses bundled roots, so the glibc NSS caveat
# of static linking does not apply. The release target dir is separate by default so the
# shared debug cache is not invalidated by the different RUSTFLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/release-static}"
export RUSTFLAGS="-C target-feature=+crt-static ${EXTRA_RUSTFLAGS:-}"

rustup target add "$TARGET" >/dev/null 2>&1 || true
cargo build --release --locked --target "$TARGET" --bin doublezero-bgpstatus >&2

BIN="$CARGO_TARGET_DIR/$TARGET/release/doublezero-bgpstatus"
# A dynamic binary here would be a packaging bug: refuse it rather than ship it.
if file "$BIN" | grep -q 'dynamically linked'; then
    echo "build-static: $BIN is dynamically linked" >&2
    file "$BIN" >&2
    exit 1
fi
echo "build-static: $(stat -c %s "$BIN") bytes: $BIN" >&2
echo "$BIN"
