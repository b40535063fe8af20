"""The chip's face image (DG2) as a JPEG for the screen, decoded only within a budget.

A DG2 of a few hundred bytes can declare a 13000 x 13000 JPEG 2000 image (a "decompression
bomb": 1.9 GB once decoded). The header is read first, and the image is decoded only when its
size is within ``max_pixels`` (width x height) and ``max_bytes`` (decoded bytes: pixels x bands x
bytes per sample); anything else, and any image whose header or data does not decode, is a
:class:`FaceImageError`. A real CCCD photo is well under one megapixel.
"""

from __future__ import annotations

import io
import logging
import warnings

from appliance.icao.errors import FaceImageError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 1_000_000
DEFAULT_MAX_BYTES = 4_000_000
JPEG_SOI = b"\xff\xd8"


def _bytes_per_sample(mode: str) -> int:
    return 4 if mode in ("I", "F", "RGBa", "CMYK") else 2 if "16" in mode else 1


def to_jpeg(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    quality: int = 85,
) -> bytes:
    """``data`` (JPEG or JPEG 2000) as JPEG bytes, within the budget. A JPEG within the budget is
    returned as it is (checked, not re-encoded). Raises :class:`FaceImageError`."""
    from PIL import Image  # Pillow: loaded only when a chip photo is shown

    if not data:
        raise FaceImageError("the chip's face image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            bands = len(img.getbands())
            mode = img.mode
    except Image.DecompressionBombError:
        raise FaceImageError(
            f"the chip's face image declares a huge size, over the budget of {max_pixels} pixels"
        ) from None
    except Exception as exc:  # any header the decoder cannot read (hostile chip data)
        raise FaceImageError(
            f"the chip's face image header is unreadable ({type(exc).__name__})"
        ) from None
    pixels = width * height
    decoded = pixels * bands * _bytes_per_sample(mode)
    if pixels > max_pixels or decoded > max_bytes:
        log.warning("chip face image %dx%d refused (budget %d pixels)", width, height, max_pixels)
        raise FaceImageError(
            f"the chip's face image declares {width}x{height} ({pixels} pixels, {decoded} bytes "
            f"decoded), over the budget of {max_pixels} pixels / {max_bytes} bytes"
        )
    if pixels == 0:
        raise FaceImageError("the chip's face image has no pixels")
    try:
        if data.startswith(JPEG_SOI) and img.format == "JPEG":
            img.load()  # decodes within the budget: proves the browser can show it
            return data
        img.load()
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=quality)
        return out.getvalue()
    except Exception as exc:
        raise FaceImageError(
            f"the chip's face image does not decode ({type(exc).__name__})"
        ) from None
    finally:
        img.close()
