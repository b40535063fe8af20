"""QR decoders behind one interface, and the one way their bytes become text.

Backends (vendor libraries imported inside each, so the package imports without them):

* ``zxing``: zxing-cpp. The raw bytes of the symbol are used, never its guessed text (for a
  byte-mode payload without ECI, as on the CCCD, zxing guesses ISO-8859-1).
* ``zbar``: libzbar through pyzbar's ctypes wrapper, in **binary mode** (``ZBAR_CFG_BINARY``,
  value 4, which pyzbar has no constant for): zbar then hands over the bytes as they are. In its
  default mode zbar guesses a text encoding and turns some Vietnamese names into Shift-JIS
  garbage (``Bùi Văn Ánh`` -> ``Bﾃｹi Vﾄハ ﾃ］h``, DOMAIN.md section 1).
* ``zbar-default``: zbar in that default mode, kept only so the benchmark and the tests can show
  the damage and its repair.
* ``opencv``: OpenCV's ``QRCodeDetector`` (bytes API), optional.

:func:`payload_text` turns bytes into text: UTF-8, NFC, and a repair of mojibake that reaches us
from elsewhere (a scanner module configured for Shift-JIS or Latin-1). The repair is applied only
when re-encoding in the suspected codec round-trips exactly and yields valid Vietnamese text;
anything else that is not Vietnamese text is rejected as ``malformed``, so garbage is never shown
as a name.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from appliance.errors import BackendMissing, InvalidInput

log = logging.getLogger(__name__)

ZBAR_CFG_BINARY = 4  # zbar.h: enum zbar_config_e; not in pyzbar's ZBarConfig
ZBAR_QRCODE = 64  # zbar.h: ZBAR_QRCODE


class QrDecodeError(InvalidInput):
    """No QR found (``not_found``) or its bytes are not Vietnamese UTF-8 text (``malformed``)."""

    code = "malformed"


# --- bytes -> text ---------------------------------------------------------------------------

# Every precomposed Vietnamese letter: the Latin-1 ones, Ă Đ Ĩ Ũ Ơ Ư, and U+1EA0..U+1EF9.
VIETNAMESE_LETTERS = frozenset(
    "ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúýĂăĐđĨĩŨũƠơƯư" + "".join(chr(c) for c in range(0x1EA0, 0x1EFA))
)
# Typographic punctuation a printed address may carry.
EXTRA_PUNCTUATION = frozenset("–—‘’“”…·")
# Mis-decoders seen in the field. zbar's default mode guesses Shift-JIS or Big5 per chunk, so
# its output can mix garbage with correct text; Latin-1 garbage comes from whole-string decoders.
CJK_CODECS = ("shift_jis", "cp932", "big5", "cp950")
WHOLE_CODECS = ("latin-1", "cp1252")
_VIETNAMESE_RUNS = re.compile("([" + "".join(sorted(VIETNAMESE_LETTERS)) + "]+)")


def _plain(ch: str) -> bool:
    """ASCII printable (and tab/CR/LF), a Vietnamese letter or typographic punctuation."""
    return " " <= ch <= "~" or ch in "\t\r\n" or ch in VIETNAMESE_LETTERS or ch in EXTRA_PUNCTUATION


def is_vietnamese_text(text: str) -> bool:
    """True when every character is one a CCCD payload can hold (see :func:`_plain`)."""
    return all(_plain(ch) for ch in text)


def _roundtrip(text: str, codecs: tuple[str, ...]) -> tuple[str, str] | None:
    """``text`` re-encoded in the first codec that round-trips exactly to Vietnamese UTF-8."""
    for codec in codecs:
        try:
            raw = text.encode(codec)
            if raw.decode(codec) != text:
                continue
            repaired = unicodedata.normalize("NFC", raw.decode("utf-8"))
        except UnicodeError:
            continue
        if repaired != text and is_vietnamese_text(repaired):
            return repaired, codec
    return None


def repair_mojibake(text: str) -> tuple[str, str] | None:
    """Undo a wrong decoding of UTF-8 bytes: ``(repaired text, codec)`` or None.

    The repair re-encodes in the suspected codec; it is accepted only when that round trip is
    exact (the bytes decode back to the very same text), the bytes are valid UTF-8, and the
    result is Vietnamese text with at least one Vietnamese letter. First the whole text is tried
    (any codec); then, for the CJK codecs, each run of text between correct Vietnamese letters
    (zbar repairs per chunk, so garbage and correct text can alternate).
    """
    fixed = _roundtrip(text, CJK_CODECS + WHOLE_CODECS)
    if fixed is None:
        parts, used = [], []
        for part in _VIETNAMESE_RUNS.split(text):
            if is_vietnamese_text(part):
                parts.append(part)
                continue
            run = _roundtrip(part, CJK_CODECS)
            if run is None:
                return None
            parts.append(run[0])
            used.append(run[1])
        fixed = "".join(parts), "+".join(sorted(set(used)))
    if fixed[0] == text or not any(ch in VIETNAMESE_LETTERS for ch in fixed[0]):
        return None
    return fixed


def payload_text(raw: bytes, eci_text: str | None = None) -> str:
    """The payload as NFC text; raises :class:`QrDecodeError` (``malformed``).

    ``raw`` must be UTF-8. ``eci_text`` is the decoder's own transcoding, used only when the
    symbol declared its character set (ECI) and the bytes are not UTF-8. Text holding characters
    a CCCD payload cannot hold is repaired when it is recognisable mojibake, else rejected.
    """
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        if eci_text is None:
            raise QrDecodeError("the QR payload is not UTF-8 text", code="malformed") from None
        text = eci_text
    text = unicodedata.normalize("NFC", text.lstrip("\ufeff"))
    # Latin-1/cp1252 garbage can consist of characters a payload may hold ("Ò" -> "Ã’"), so it
    # is recognised by its exact round trip to UTF-8 before the character check.
    fixed = _roundtrip(text, WHOLE_CODECS) if not text.isascii() else None
    if fixed is None or not any(ch in VIETNAMESE_LETTERS for ch in fixed[0]):
        if is_vietnamese_text(text):
            return text
        fixed = repair_mojibake(text)
    if fixed is None:
        raise QrDecodeError(
            "the QR payload holds characters that are not Vietnamese text (a scanner or decoder "
            "with the wrong character set?)",
            code="malformed",
        )
    log.info("repaired a QR payload mis-decoded as %s", fixed[1])
    return fixed[0]


# --- decoders --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawHit:
    """One symbol: its bytes, bounding box (x, y, w, h) in the image given, ECI text if any."""

    data: bytes
    box: tuple[int, int, int, int]
    eci_text: str | None = None

    def text(self) -> str:
        return payload_text(self.data, self.eci_text)


def _box(points) -> tuple[int, int, int, int]:
    xs = [round(float(p[0])) for p in points]
    ys = [round(float(p[1])) for p in points]
    return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def to_gray(image: np.ndarray) -> np.ndarray:
    """A contiguous uint8 grey image from grey, RGB or RGBA."""
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    import cv2

    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), code)


class QrDecoder(abc.ABC):
    """Finds QR symbols in a grey image. Not shared between threads without a lock."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def decode(self, gray: np.ndarray) -> list[RawHit]:
        """Every QR symbol in ``gray`` (H x W uint8, contiguous), possibly none."""

    def close(self) -> None:
        """Free native resources."""


class ZxingDecoder(QrDecoder):
    name = "zxing"

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:
            raise BackendMissing("the zxing decoder needs zxing-cpp: pip install zxing-cpp") from (
                exc
            )
        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode

    def decode(self, gray: np.ndarray) -> list[RawHit]:
        hits = []
        # A QR finder is rotation invariant, the card is dark on light: skip the extra passes.
        for bc in self._zx.read_barcodes(
            gray, formats=self._formats, try_rotate=False, try_invert=False
        ):
            pos = bc.position
            pts = [(p.x, p.y) for p in (pos.top_left, pos.top_right, pos.bottom_right,
                                        pos.bottom_left)]  # fmt: skip
            eci = bc.text if bc.symbology_identifier[-1:] in ("2", "4", "6") else None
            hits.append(RawHit(bytes(bc.bytes), _box(pts), eci))
        return hits


class ZbarDecoder(QrDecoder):
    """libzbar through pyzbar's ctypes wrapper; one scanner, configured once, reused."""

    name = "zbar"
    binary = True

    def __init__(self) -> None:
        try:
            from pyzbar import wrapper
        except ImportError as exc:  # pyzbar missing, or libzbar0 (raised as ImportError)
            raise BackendMissing(
                "the zbar decoder needs libzbar0 and pyzbar: apt install libzbar0; "
                "pip install pyzbar"
            ) from exc
        self._w = wrapper
        self._lock = threading.Lock()
        self._scanner = wrapper.zbar_image_scanner_create()
        if not self._scanner:
            raise BackendMissing("zbar could not create an image scanner")
        cfg = wrapper.zbar_image_scanner_set_config
        cfg(self._scanner, wrapper.ZBarSymbol.NONE, wrapper.ZBarConfig.CFG_ENABLE, 0)
        cfg(self._scanner, ZBAR_QRCODE, wrapper.ZBarConfig.CFG_ENABLE, 1)
        if self.binary and cfg(self._scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0:
            raise BackendMissing("this libzbar has no binary mode (ZBAR_CFG_BINARY): zbar >= 0.23")

    def decode(self, gray: np.ndarray) -> list[RawHit]:
        from ctypes import c_void_p, string_at

        w = self._w
        gray = np.ascontiguousarray(gray, dtype=np.uint8)  # zbar reads it in place
        height, width = gray.shape
        hits = []
        with self._lock:
            image = w.zbar_image_create()
            try:
                w.zbar_image_set_format(image, 808466521)  # fourcc 'Y800': 8-bit grey
                w.zbar_image_set_size(image, width, height)
                w.zbar_image_set_data(image, c_void_p(gray.ctypes.data), gray.size, None)
                if w.zbar_scan_image(self._scanner, image) > 0:
                    symbol = w.zbar_image_first_symbol(image)
                    while symbol:
                        data = string_at(
                            w.zbar_symbol_get_data(symbol), w.zbar_symbol_get_data_length(symbol)
                        )
                        n = w.zbar_symbol_get_loc_size(symbol)
                        pts = [
                            (w.zbar_symbol_get_loc_x(symbol, i), w.zbar_symbol_get_loc_y(symbol, i))
                            for i in range(n)
                        ]
                        hits.append(RawHit(data, _box(pts) if pts else (0, 0, width, height)))
                        symbol = w.zbar_symbol_next(symbol)
            finally:
                w.zbar_image_destroy(image)
        return hits

    def close(self) -> None:
        if getattr(self, "_scanner", None):
            self._w.zbar_image_scanner_destroy(self._scanner)
            self._scanner = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class ZbarDefaultDecoder(ZbarDecoder):
    """zbar in its default text mode: it guesses the encoding (for comparison only)."""

    name = "zbar-default"
    binary = False


class OpencvDecoder(QrDecoder):
    name = "opencv"

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise BackendMissing(
                "the opencv decoder needs OpenCV: pip install opencv-python-headless"
            ) from exc
        self._cv2 = cv2
        self._detector = cv2.QRCodeDetector()
        # It warns on stderr for every symbol with an ECI header; the result says enough.
        with contextlib.suppress(AttributeError):
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def decode(self, gray: np.ndarray) -> list[RawHit]:
        try:
            data, points, _ = self._detector.detectAndDecodeBytes(gray)
        except self._cv2.error as exc:  # e.g. "mode 14 not implemented" on some symbols
            log.debug("opencv could not decode: %s", exc)
            return []
        if not data or points is None:
            return []
        return [RawHit(bytes(data), _box(points.reshape(-1, 2)))]


DECODERS: dict[str, type[QrDecoder]] = {
    "zxing": ZxingDecoder,
    "zbar": ZbarDecoder,
    "opencv": OpencvDecoder,
    "zbar-default": ZbarDefaultDecoder,
}
# Chosen by `appliance bench qr` (benchmarks/qr-*.json): see docs/qr-gate.md.
DEFAULT_DECODER = "zxing"


def get_decoder(name: str = DEFAULT_DECODER) -> QrDecoder:
    """A new decoder by name; :class:`InvalidInput` for an unknown name."""
    try:
        cls = DECODERS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown QR decoder {name!r}; choose one of {', '.join(DECODERS)}", code="usage"
        ) from None
    return cls()


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded payload: text (NFC, repaired), the raw bytes, where, by whom, how long."""

    text: str
    data: bytes
    box: tuple[int, int, int, int]
    decoder: str
    ms: float


def decode_image(image: np.ndarray, decoder: QrDecoder) -> Decoded:
    """The first QR in a whole image; :class:`QrDecodeError` ``not_found`` or ``malformed``."""
    t0 = time.perf_counter()
    hits = decoder.decode(to_gray(image))
    ms = (time.perf_counter() - t0) * 1000
    if not hits:
        raise QrDecodeError("no QR code found in the image", code="not_found")
    hit = hits[0]
    return Decoded(hit.text(), hit.data, hit.box, decoder.name, ms)
