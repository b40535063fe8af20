"""``appliance qr decode IMAGE... [--decoder NAME] [--json]``: find and decode the QR in images.

One JSON line per image, in input order::

    {"file": "card.jpg", "ok": true, "payload": "001090012345||NGUYỄN VĂN AN|...",
     "decoder": "zxing", "ms": 1.4}
    {"ok": false, "file": "wall.jpg", "error": {"code": "not_found", "message": "..."}}

Error codes: ``not_found`` (no QR in the image), ``malformed`` (a QR whose bytes are not
Vietnamese UTF-8 text, after the mojibake repair), ``unreadable`` (missing or not an image:
exit 2). The frame pipeline of the camera scanner is used (downscaled search, then full frame).
The ``decode`` sub-command joins the ``qr`` group made by :mod:`appliance.cccd.cli`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from appliance.cli_output import EXIT_INVALID, EXIT_OK, emit, fail, fail_exc
from appliance.errors import ApplianceError
from appliance.pipeline.qr_decode import DECODERS, DEFAULT_DECODER, QrDecodeError, payload_text
from appliance.pipeline.qr_frames import QrFramePipeline


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB; :class:`QrDecodeError` ``unreadable`` when it cannot be read."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise QrDecodeError("no such file", code="unreadable")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise QrDecodeError("not an image OpenCV can read", code="unreadable")
    return bgr[..., ::-1]


def cmd_qr_decode(args: argparse.Namespace) -> int:
    try:
        pipeline = QrFramePipeline(args.decoder)
    except ApplianceError as exc:  # the decoder's library is missing
        return fail_exc(args, exc)
    worst = EXIT_OK
    for name in args.images:
        try:
            image = read_image(name)
            t0 = time.perf_counter()
            pipeline.last_box = None  # images are independent: no region from the previous one
            hit = pipeline.find(image)
            if hit is None:
                raise QrDecodeError("no QR code found in the image", code="not_found")
            text = payload_text(hit.data, hit.eci_text)
            ms = (time.perf_counter() - t0) * 1000
        except QrDecodeError as exc:
            code = fail(args, exc.code, f"{name}: {exc.message}", EXIT_INVALID, file=name)
            if exc.code == "unreadable":
                worst = code
            continue
        emit(
            {
                "file": name,
                "ok": True,
                "payload": text,
                "decoder": args.decoder,
                "ms": round(ms, 2),
            },
            args,
        )
    pipeline.close()
    return worst


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def group(sub, name: str, help_text: str, dest: str):
    """The sub-command group ``name`` (another module's, when it made it first)."""
    from appliance.cli import _Parser

    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_text)
    action = _subparsers(parser)
    if action is None:
        action = parser.add_subparsers(dest=dest, required=True, parser_class=_Parser)
    return action


def register_decode(qr_sub) -> None:
    """Add ``decode`` to the ``qr`` group's sub-parsers."""
    from appliance.cli import add_json_flag

    p = qr_sub.add_parser("decode", help="find and decode the QR code in images (JSON lines)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG...)")
    p.add_argument(
        "--decoder",
        choices=sorted(DECODERS),
        default=DEFAULT_DECODER,
        help=f"QR decoder (default {DEFAULT_DECODER}, chosen by `appliance bench qr`)",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_qr_decode)


def register(sub) -> None:
    register_decode(group(sub, "qr", "the card's QR payload", "qr_command"))
