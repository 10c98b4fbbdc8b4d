#!/usr/bin/env python3
"""Writes a SWIX (an EOS extension bundle) from RPMs, in the format of switools' `swix-create`
(eos.md §5.1): an uncompressed zip without directories whose first member is `manifest.txt`:

    format: 1
    primaryRpm: <first rpm's file name>
    <rpm file name>-sha1: <hex sha1>      (one line per RPM, the primary included)

followed by the RPMs under their base names. Members get a fixed timestamp so the same RPM
always gives the same SWIX bytes.

    make-swix.py OUT.swix PRIMARY.rpm [OTHER.rpm ...]
"""
import hashlib
import os
import sys
import zipfile

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def manifest(rpms):
    lines = ["format: 1", f"primaryRpm: {os.path.basename(rpms[0])}"]
    for rpm in rpms:
        with open(rpm, "rb") as f:
            digest = hashlib.sha1(f.read()).hexdigest()
        lines.append(f"{os.path.basename(rpm)}-sha1: {digest}")
    return "\n".join(lines) + "\n"


def member(name):
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, rpms = sys.argv[1], sys.argv[2:]
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as swix:
        swix.writestr(member("manifest.txt"), manifest(rpms))
        for rpm in rpms:
            with open(rpm, "rb") as f:
                swix.writestr(member(os.path.basename(rpm)), f.read())
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
