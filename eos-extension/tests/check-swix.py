#!/usr/bin/env python3
"""Checks a SWIX's structure against the format EOS and switools expect (eos.md §5.1), and,
when switools is installed, against switools itself.

    check-swix.py SWIX RPM

* an uncompressed zip without directories, `manifest.txt` first, then the RPM by base name;
* the manifest's lines are exactly `format: 1`, `primaryRpm: <rpm>`, `<rpm>-sha1: <hex>`, and
  the hash matches both the member and the RPM built;
* switools (Arista's own tool, PyPI `switools`): `swixtools.create.createManifestFile` writes
  byte-for-byte the same manifest for this RPM, and `switools.verifyswi.verifySwi` accepts the
  zip as a SWI/X and stops only at the missing signature. Its default check needs Arista's root
  CA to have signed the file, which no third-party extension has; EOS installs it with
  `signature-verification ignored` or when enforcement is off.

Verified with switools 1.2, which `.ci/run` pins: pip finds only 1.1 and 1.2 on PyPI. Upstream's
source has since moved these to `switools.create` and `switools.verify` (Python >= 3.12, and
`verifySwi` there takes a `pathlib.Path`); moving the pin to a release with that layout means
moving these imports with it.
"""
import hashlib
import importlib.metadata
import os
import sys
import tempfile
import zipfile


def fail(message):
    sys.exit(f"check-swix: FAIL: {message}")


def main():
    swix, rpm = sys.argv[1], sys.argv[2]
    rpm_name = os.path.basename(rpm)
    with open(rpm, "rb") as f:
        rpm_bytes = f.read()
    rpm_sha1 = hashlib.sha1(rpm_bytes).hexdigest()

    with zipfile.ZipFile(swix) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        if names != ["manifest.txt", rpm_name]:
            fail(f"members {names}, want ['manifest.txt', '{rpm_name}']")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                fail(f"{info.filename} is compressed (method {info.compress_type})")
            if info.is_dir() or "/" in info.filename:
                fail(f"{info.filename} is a directory or has a path")
        manifest = z.read("manifest.txt").decode()
        member = z.read(rpm_name)

    want = f"format: 1\nprimaryRpm: {rpm_name}\n{rpm_name}-sha1: {rpm_sha1}\n"
    if manifest != want:
        fail(f"manifest.txt is\n{manifest}\nwant\n{want}")
    if hashlib.sha1(member).hexdigest() != rpm_sha1:
        fail("the RPM in the SWIX differs from the RPM built")
    print(f"check-swix: structure OK: manifest.txt then {rpm_name}, stored, sha1 {rpm_sha1}")

    try:
        version = importlib.metadata.version("switools")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("REQUIRE_SWITOOLS"):
            fail("switools is not installed (.ci/run installs the pinned version in a venv)")
        print("check-swix: switools not installed; skipped its checks")
        return
    try:
        from swixtools import create
        from switools import verifyswi
    except ImportError as e:
        fail(f"switools {version} lacks the modules of 1.2, the version this check knows: {e}")
    print(f"check-swix: switools {version}")

    with tempfile.TemporaryDirectory() as tmp:
        path = create.createManifestFile(tmp, [rpm])
        with open(path) as f:
            theirs = f.read()
    if theirs != manifest:
        fail(f"switools writes the manifest as\n{theirs}\nours is\n{manifest}")
    print("check-swix: switools' createManifestFile writes the same manifest.txt")

    code = verifyswi.verifySwi(swix)
    expected = verifyswi.VERIFY_SWI_RESULT.ERROR_SIGNATURE_FILE
    if code != expected:
        fail(f"switools verifySwi: {verifyswi.VERIFY_SWI_MESSAGE.get(code, code)} (want: unsigned)")
    print(f"check-swix: switools verifySwi reads it as a SWI/X: {verifyswi.VERIFY_SWI_MESSAGE[code]}")


if __name__ == "__main__":
    main()
