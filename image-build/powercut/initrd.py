"""Append the power-cut guest's files to the image's initrd, as a second (uncompressed) cpio.

    initrd.py IMAGE_INITRD OUT_INITRD FILE...     each FILE lands in /powercut/ (0755)

The kernel unpacks concatenated cpio archives in turn, so the image's initrd (zstd) keeps its
modules and busybox, and ``rdinit=/powercut/init`` starts the test instead of initramfs-tools.
No cpio(1) needed: the "newc" format is written here.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path


def _entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(f"{v:08X}".encode() for v in fields)
    blob = head + name.encode() + b"\0"
    blob += b"\0" * (-len(blob) % 4) + data
    return blob + b"\0" * (-len(blob) % 4)


def newc(files: list[Path]) -> bytes:
    out = _entry("powercut", stat.S_IFDIR | 0o755)
    out += _entry("dev", stat.S_IFDIR | 0o755)
    out += _entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    for f in files:
        out += _entry(f"powercut/{f.name}", stat.S_IFREG | 0o755, f.read_bytes())
    out += _entry("TRAILER!!!", 0)
    return out + b"\0" * (-len(out) % 512)


def main() -> None:
    base, dest, *files = sys.argv[1:]
    image = Path(base).read_bytes()
    Path(dest).write_bytes(image + b"\0" * (-len(image) % 4) + newc([Path(f) for f in files]))


if __name__ == "__main__":
    main()
