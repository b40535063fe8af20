"""The camera frame pipeline: find a QR quickly in a stream of frames, report each card once.

Per frame, in order, stopping at the first hit:

1. ``down``: the whole frame scaled down to at most ``search_width`` pixels wide (cheap; finds
   the codes that fill a good part of the frame).
2. ``roi``: the region where the last code was found, at full resolution, with a margin (the card
   rarely jumps between frames, and a small code needs every pixel).
3. ``full``: the whole frame at full resolution, on one miss in ``full_every`` (1 = always), for
   small codes seen for the first time.

:class:`Deduper` drops repeats of the same payload within a window (a card held in front of the
camera is one scan, not fifteen a second).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

from appliance.pipeline.qr_decode import QrDecoder, RawHit, get_decoder, to_gray

STAGES = ("down", "roi", "full")


@dataclass(frozen=True, slots=True)
class FrameHit:
    """A symbol found in a frame: raw bytes, box in full-frame pixels, stage, time spent."""

    data: bytes
    box: tuple[int, int, int, int]
    stage: str
    ms: float
    eci_text: str | None = None


class Deduper:
    """Remembers payloads (as digests, in memory only) for ``window_s`` since last seen."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[bytes, float] = {}
        self._next_prune = 0.0

    def is_repeat(self, payload: bytes, now: float | None = None) -> bool:
        """True if ``payload`` was seen within the window; either way it counts as seen now."""
        now = time.monotonic() if now is None else now
        key = hashlib.blake2b(payload, digest_size=16).digest()
        last = self._seen.get(key)
        self._seen[key] = now
        if now >= self._next_prune:
            cutoff = now - self.window_s
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            self._next_prune = now + max(self.window_s, 1.0)
        return last is not None and now - last < self.window_s

    def __len__(self) -> int:
        return len(self._seen)


class QrFramePipeline:
    """Downscaled search, then the last code's region, then (sometimes) the full frame."""

    FORGET_AFTER = 30  # misses after which the last region is no longer searched

    def __init__(
        self,
        decoder: str | QrDecoder = "zxing",
        *,
        search_width: int = 640,
        roi_margin: float = 0.5,
        full_every: int = 1,
    ) -> None:
        self.decoder = get_decoder(decoder) if isinstance(decoder, str) else decoder
        self.search_width = search_width
        self.roi_margin = roi_margin
        self.full_every = max(0, full_every)
        self.last_box: tuple[int, int, int, int] | None = None
        self._misses = 0
        self.stage_counts = dict.fromkeys((*STAGES, "miss"), 0)

    def _down(self, gray: np.ndarray) -> tuple[list[RawHit], float] | None:
        h, w = gray.shape
        if w <= self.search_width:
            return None
        import cv2

        scale = self.search_width / w
        size = (self.search_width, round(h * scale))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        return self.decoder.decode(small), 1 / scale

    def _roi(self, gray: np.ndarray) -> tuple[list[RawHit], tuple[int, int]] | None:
        if self.last_box is None:
            return None
        x, y, bw, bh = self.last_box
        mx, my = round(bw * self.roi_margin), round(bh * self.roi_margin)
        h, w = gray.shape
        x0, y0 = max(0, x - mx), max(0, y - my)
        x1, y1 = min(w, x + bw + mx), min(h, y + bh + my)
        if (x1 - x0) * (y1 - y0) >= 0.6 * w * h:  # not worth it: as big as the frame
            return None
        return self.decoder.decode(np.ascontiguousarray(gray[y0:y1, x0:x1])), (x0, y0)

    def find(self, frame: np.ndarray) -> FrameHit | None:
        """The first QR in ``frame`` (RGB or grey), or None; updates the remembered region."""
        t0 = time.perf_counter()
        gray = to_gray(frame)
        hit: RawHit | None = None
        stage = ""
        box = (0, 0, 0, 0)
        down = self._down(gray)
        if down is not None and down[0]:
            hit, k = down[0][0], down[1]
            stage = "down"
            box = tuple(round(v * k) for v in hit.box)  # type: ignore[assignment]
        if hit is None:
            roi = self._roi(gray)
            if roi is not None and roi[0]:
                hit, (ox, oy) = roi[0][0], roi[1]
                stage = "roi"
                box = (hit.box[0] + ox, hit.box[1] + oy, hit.box[2], hit.box[3])
        if hit is None and (down is None or (self.full_every and
                                             self._misses % self.full_every == 0)):  # fmt: skip
            hits = self.decoder.decode(gray)
            if hits:
                hit, stage, box = hits[0], "full", hits[0].box
        ms = (time.perf_counter() - t0) * 1000
        if hit is None:
            self._misses += 1
            self.stage_counts["miss"] += 1
            if self._misses > self.FORGET_AFTER:
                self.last_box = None
            return None
        self._misses = 0
        self.last_box = box
        self.stage_counts[stage] += 1
        return FrameHit(hit.data, box, stage, ms, hit.eci_text)

    def close(self) -> None:
        self.decoder.close()
