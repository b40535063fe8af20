"""Download a bundle over a weak link: resumed with HTTP ``Range`` after every cut, checked
against the manifest's SHA-256 and size before anyone opens it.

The partial file (``<sha256>.part``) lives in ``[update] download_dir`` on the data partition, so
a reboot or power cut mid-download resumes where it stopped. A server that ignores ``Range``
(answers 200) makes the download start again from byte 0, never appends the wrong bytes.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from appliance.update.errors import UpdateFailed, UpdateRefused
from appliance.update.manifest import Manifest
from appliance.update.publish import file_digest

log = logging.getLogger(__name__)

BLOCK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
Progress = Callable[[int, int], None]


def _context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def _fetch_into(
    url: str, part: Path, size: int, *, timeout_s: float, ca_file: str, progress: Progress | None
) -> None:
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have == size:
        return
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    opener_ctx = _context(ca_file) if url.startswith("https:") else None
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s, context=opener_ctx)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send; the check below decides
            return
        raise
    with resp:
        mode = "ab"
        if resp.status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise UpdateFailed(f"server resumed at the wrong place ({m and m.group(1)})")
        else:  # 200: the whole file again
            if have:
                log.info("server ignored the range request: starting again from byte 0")
            mode, have = "wb", 0
        with open(part, mode) as fh:
            while True:
                block = resp.read(BLOCK)
                if not block:
                    break
                have += len(block)
                if have > size:
                    raise UpdateRefused(
                        f"the server sends more than the manifest's {size} bytes", code="checksum"
                    )
                fh.write(block)
                if progress:
                    progress(have, size)
            fh.flush()
            os.fsync(fh.fileno())


def download(
    manifest: Manifest,
    folder: str | Path,
    *,
    timeout_s: float = 30.0,
    retries: int = 20,
    ca_file: str = "",
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """The verified bundle file for ``manifest`` (downloaded or resumed as needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{manifest.sha256}.raucb"
    part = folder / f"{manifest.sha256}.part"
    for old in folder.iterdir():  # bundles and parts of other releases: the data partition is small
        if old.suffix in (".raucb", ".part") and old.stem != manifest.sha256:
            old.unlink(missing_ok=True)
    if final.exists() and file_digest(final) == (manifest.sha256, manifest.size):
        return final
    delay = 2.0
    for attempt in range(1, retries + 2):
        try:
            _fetch_into(
                manifest.bundle_url,
                part,
                manifest.size,
                timeout_s=timeout_s,
                ca_file=ca_file,
                progress=progress,
            )
            if part.exists() and part.stat().st_size == manifest.size:
                break
            log.info(
                "download cut at %d of %d bytes",
                part.stat().st_size if part.exists() else 0,
                manifest.size,
            )
        except (OSError, urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.info("download attempt %d failed: %s", attempt, exc)
        if attempt > retries:
            have = part.stat().st_size if part.exists() else 0
            raise UpdateFailed(
                f"download incomplete after {attempt} attempts ({have} of {manifest.size} bytes;"
                " it resumes at the next poll)",
                code="download",
            )
        sleep(delay)
        delay = min(delay * 2, 300.0)
    digest, size = file_digest(part)
    if (digest, size) != (manifest.sha256, manifest.size):
        part.unlink(missing_ok=True)
        raise UpdateRefused(
            f"downloaded bundle does not match the manifest's SHA-256 ({digest[:16]}...)",
            code="checksum",
        )
    os.replace(part, final)
    return final
