#!/usr/bin/env bash
# The one command that builds what an operator installs on a switch:
#
#   eos-extension/build-swix.sh
#
# 1. the static x86_64 release binary (rpm/build-static.sh),
# 2. the RPM from Cargo.toml's [package.metadata.generate-rpm] (cargo-generate-rpm),
# 3. the SWIX holding that RPM (eos-extension/make-swix.py),
# into target/swix/: doublezero-bgpstatus-<version>-<release>.i686.{rpm,swix}.
#
# Needs rustup's x86_64-unknown-linux-gnu target, `cargo install --locked cargo-generate-rpm`
# and python3. RELEASE_TARGET_DIR is passed on to rpm/build-static.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
# The RPM's arch tag only decides where rpm agrees to install it; the binary needs an x86_64
# kernel, which every x86 EOS image runs, 32-bit userland or not. i686 is the arch of a 32-bit
# image's own packages and, through rpm's compat table (x86_64 -> athlon -> i686), accepted by a
# 64-bit image too. x86_64 is refused by 32-bit images; noarch would also install on ARM cEOS,
# where the binary cannot run. eos-extension/tests/check-rpm.sh installs it both ways.
RPM_ARCH=i686
RELEASE_TARGET_DIR="${RELEASE_TARGET_DIR:-$PWD/target/release-static}"
OUT="$PWD/target/swix"
export RELEASE_TARGET_DIR

BIN="$(rpm/build-static.sh)"

mkdir -p "$OUT"
rm -f "$OUT"/*.rpm "$OUT"/*.swix
# gzip payload: EOS's rpm ranges from 4.8 (Fedora 14) to 4.16; zstd payloads (the tool's
# default) need rpm >= 4.14 and would be refused by older images.
cargo generate-rpm --target "$TARGET" --arch "$RPM_ARCH" --target-dir "$RELEASE_TARGET_DIR" \
    --payload-compress gzip --output "$OUT/" >&2
RPM="$(ls "$OUT"/*.rpm)"
SWIX="${RPM%.rpm}.swix"
python3 eos-extension/make-swix.py "$SWIX" "$RPM"

echo "build-swix: binary $(stat -c %s "$BIN") bytes, $(basename "$RPM") $(stat -c %s "$RPM") bytes, $(basename "$SWIX") $(stat -c %s "$SWIX") bytes" >&2
echo "$SWIX"
