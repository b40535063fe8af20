"""``appliance qr parse``, ``appliance mrz parse`` and ``appliance bac keys`` (issue 3 contract).

Each prints one JSON object (readable text on a terminal); invalid input exits 2 with
``{"ok": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from appliance.cccd.bac import bac_keys, bac_keys_from_qr, bac_keys_from_td1
from appliance.cccd.mrz import parse_td1
from appliance.cccd.qr import parse_qr
from appliance.cli_output import EXIT_OK, emit, fail
from appliance.clock import clock_synchronized


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None


def _today(args: argparse.Namespace) -> date:
    """``--today`` or the system date; says so on stderr when the clock is not synchronised."""
    if args.today is not None:
        return args.today
    if not clock_synchronized():
        sys.stderr.write(
            "appliance: note: the clock is not synchronised; 'today' is the system date "
            f"{date.today().isoformat()} (pass --today to fix it)\n"
        )
    return date.today()


def _stdin_bytes() -> bytes | None:
    """All of stdin as bytes, or None when stdin is an interactive terminal."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")


def cmd_qr_parse(args: argparse.Namespace) -> int:
    if args.payload is not None:
        payload: bytes | None = os.fsencode(args.payload)  # the argument's raw bytes
    else:
        payload = _stdin_bytes()
        if payload is None:
            return fail(args, "usage", "give the PAYLOAD argument or pipe it on stdin")
    emit(parse_qr(payload, today=_today(args)).to_dict(), args)
    return EXIT_OK


def cmd_mrz_parse(args: argparse.Namespace) -> int:
    data = _stdin_bytes()
    if data is None:
        return fail(args, "usage", "pipe the three MRZ lines on stdin")
    text = data.decode("utf-8", errors="replace")
    emit(parse_td1(text, today=args.today or date.today()).to_dict(), args)
    return EXIT_OK


def cmd_bac_keys(args: argparse.Namespace) -> int:
    if args.qr is not None:
        keys = bac_keys_from_qr(parse_qr(os.fsencode(args.qr)))
    elif args.mrz_file is not None:
        try:
            if args.mrz_file == "-":
                text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
            else:
                with open(args.mrz_file, "rb") as f:
                    text = f.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return fail(args, "unreadable_file", f"cannot read {args.mrz_file}: {exc.strerror}")
        keys = bac_keys_from_td1(parse_td1(text))
    else:
        parts = args.bac.split(",")
        if len(parts) != 3:
            return fail(
                args, "usage", "--bac takes DOCNO,YYMMDD,YYMMDD (document number, birth, expiry)"
            )
        keys = bac_keys(*(p.strip() for p in parts))
    emit(keys.to_dict(), args)
    return EXIT_OK


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag

    qr = sub.add_parser("qr", help="the card's QR payload")
    qr_sub = qr.add_subparsers(dest="qr_command", required=True, parser_class=_Parser)
    p = qr_sub.add_parser("parse", help="parse and check a QR payload (argument or stdin)")
    p.add_argument("payload", nargs="?", help="the payload text (default: read stdin as bytes)")
    p.add_argument("--today", type=_iso_date, help="date for 'expired' (YYYY-MM-DD)")
    add_json_flag(p)
    p.set_defaults(func=cmd_qr_parse)

    mrz = sub.add_parser("mrz", help="the card's machine-readable zone (TD1)")
    mrz_sub = mrz.add_subparsers(dest="mrz_command", required=True, parser_class=_Parser)
    p = mrz_sub.add_parser("parse", help="parse and verify the three MRZ lines from stdin")
    p.add_argument("--today", type=_iso_date, help="date that decides the birth century")
    add_json_flag(p)
    p.set_defaults(func=cmd_mrz_parse)

    bac = sub.add_parser("bac", help="BAC key material for the chip")
    bac_sub = bac.add_subparsers(dest="bac_command", required=True, parser_class=_Parser)
    p = bac_sub.add_parser("keys", help="MRZ_information, Kseed, Kenc, Kmac")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--qr", metavar="PAYLOAD", help="from a QR payload")
    source.add_argument("--mrz-file", metavar="F", help="from a file holding the MRZ (- = stdin)")
    source.add_argument("--bac", metavar="DOCNO,YYMMDD,YYMMDD", help="from typed fields")
    add_json_flag(p)
    p.set_defaults(func=cmd_bac_keys)
