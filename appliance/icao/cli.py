"""``appliance card pki|read|emulate``: the chip from the command line (docs/chip.md).

* ``card pki --out DIR``: a test CSCA and Document Signer for the emulator.
* ``card read (--qr P | --mrz-file F | --bac DOCNO,YYMMDD,YYMMDD) [--can N] [--access A]``: read
  and verify a chip (PACE with the CAN, from the QR's ID number or ``--can``, or with the MRZ;
  BAC); exit 0 when it was read (whatever the authentication results), 1 when it could not be
  (``no_card``, ``bac_failed``, ``pace_failed``, ``read_error``), 2 on invalid input.
* ``card emulate --identity F --photo F --pki DIR``: serve a chip to vpcd until stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_INVALID, EXIT_OK, emit, fail

DEFAULT_WAIT_S = 10.0


def _keys(args: argparse.Namespace):
    """(BAC keys or None, CAN or None): the QR gives both (CAN = last 6 ID digits)."""
    from appliance.errors import InvalidInput

    can = args.can
    if can is not None and not (len(can) == 6 and can.isascii() and can.isdigit()):
        raise InvalidInput("--can is the card access number: 6 digits")
    if args.qr is None and args.mrz_file is None and args.bac is None:
        if can is None:
            raise InvalidInput("give --qr, --mrz-file, --bac or --can")
        return None, can
    if args.qr is not None and can is None:
        from appliance.cccd.qr import parse_qr

        can = str(parse_qr(os.fsencode(args.qr)).id_number)[-6:]
    return _bac(args), can


def _bac(args: argparse.Namespace):
    from appliance.cccd.bac import bac_keys, bac_keys_from_qr, bac_keys_from_td1
    from appliance.cccd.mrz import parse_td1
    from appliance.cccd.qr import parse_qr

    if args.qr is not None:
        return bac_keys_from_qr(parse_qr(os.fsencode(args.qr)))
    if args.mrz_file is not None:
        return bac_keys_from_td1(parse_td1(_read_text(args.mrz_file)))
    parts = [p.strip() for p in args.bac.split(",")]
    if len(parts) != 3:
        from appliance.errors import InvalidInput

        raise InvalidInput("--bac is DOCNO,YYMMDD,YYMMDD (document number, birth, expiry)")
    return bac_keys(*parts)


def _read_bytes(path: str) -> bytes:
    from appliance.errors import InvalidInput

    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_text(path: str) -> str:
    return _read_bytes(path).decode("utf-8", errors="replace")


def _custom_chip(args: argparse.Namespace, **emulator_kwargs: Any):
    """(emulator, trust store) for ``--identity --photo --pki``."""
    from asn1crypto import x509 as ax509

    from appliance.icao.emulator import CardEmulator
    from appliance.icao.passive import TrustStore
    from appliance.icao.personalise import load_identity, personalise
    from appliance.icao.pki import load_pki

    pki = load_pki(args.pki)
    access = getattr(args, "access_offer", None) or getattr(args, "sim_access", None) or "bac"
    image = personalise(
        load_identity(args.identity),
        _read_bytes(args.photo),
        pki,
        aa=getattr(args, "aa", "rsa"),
        card_access=access != "bac",
        ca=bool(getattr(args, "ca", False) or getattr(args, "sim_ca", False)),
    )
    emulator_kwargs.setdefault("access", access)
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)], str(Path(args.pki) / "csca.pem"))
    return CardEmulator(image, **emulator_kwargs), trust


def _open_reader(args: argparse.Namespace):
    from appliance.config import load_config
    from appliance.hal.registry import create_device

    section = load_config().card_reader
    custom = [args.identity, args.photo, args.pki]
    sim = args.reader == "sim" or (args.reader is None and section.backend == "sim")
    if any(custom) and not (sim and all(custom)):
        return None, "--identity, --photo and --pki go together, with --reader sim"
    if sim:
        section = dataclasses.replace(
            section,
            backend="sim",
            sim_insert_after_s=0.0,
            sim_card_access=args.sim_access or section.sim_card_access,
            sim_card_ca=args.sim_ca or section.sim_card_ca,
        )
        reader = create_device("card_reader", section)
        if all(custom):
            reader.emulator, reader.trust_store = _custom_chip(args)
    else:
        changes: dict[str, Any] = {"backend": "pcsc"}
        if args.reader:
            changes["reader"] = args.reader
        if args.extended:
            changes["extended_length"] = args.extended
        section = dataclasses.replace(section, **changes)
        reader = create_device("card_reader", section)
    reader.open()
    return reader, section


def cmd_read(args: argparse.Namespace) -> int:
    from appliance.icao.passive import TrustStore
    from appliance.icao.reader import options_from_config, read_card

    keys, can = _keys(args)
    if args.trust is not None and not Path(args.trust).is_dir():
        return fail(args, "invalid_input", f"trust store folder {args.trust} does not exist")
    reader, section = _open_reader(args)
    if reader is None:
        return fail(args, "usage", section, EXIT_INVALID)
    options = options_from_config(section)
    trust_dir = options.pop("trust_dir")
    if args.trust is not None or trust_dir:
        options["trust_store"] = TrustStore.from_dir(args.trust or trust_dir)
    if args.timeout:
        options["timeout_s"] = args.timeout
    if args.block_size:
        options["block_size"] = args.block_size
    if args.access:
        options["access"] = args.access
    try:
        result = read_card(reader, keys, can=can, wait_s=args.wait, **options)
    finally:
        reader.close()
    face_path = result.write_face(args.out) if args.out else None
    emit(result.to_dict(face_path), args)
    return EXIT_OK


def cmd_pki(args: argparse.Namespace) -> int:
    from appliance.icao.pki import generate_pki

    files = generate_pki(args.csca, args.ds).save(args.out)
    emit({"ok": True, **files, "note": "test PKI: never use it for real documents"}, args)
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    from appliance.icao.vpcd import VpcdClient, parse_address

    host, port = parse_address(args.vpcd)
    card, _ = _custom_chip(
        args,
        fault=args.fault,
        max_le=args.max_le or None,
        extended_length=not args.no_extended,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client = VpcdClient(card, host, port).start()
    sys.stderr.write(f"appliance: serving the emulated card to vpcd at {host}:{port}\n")
    started = time.monotonic()
    deadline = started + args.duration if args.duration else None
    warned = False
    while not stop.wait(0.2):
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if not warned and not client.connected.is_set() and now - started > 2.0:
            warned = True
            sys.stderr.write(
                f"appliance: waiting for vpcd at {host}:{port} "
                "(is pcscd running with vsmartcard-vpcd?)\n"
            )
    client.stop()
    emit(
        {
            "ok": True,
            "vpcd": f"{host}:{port}",
            "apdus": client.apdus,
            "atr": card.atr.hex().upper(),
        },
        args,
    )
    return EXIT_OK


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag
    from appliance.icao.emulator import FAULTS
    from appliance.icao.pki import CSCA_KINDS, DS_KINDS

    card = sub.add_parser("card", help="the chip: read and verify, emulate, test PKI")
    card_sub = card.add_subparsers(dest="card_command", required=True, parser_class=_Parser)

    p = card_sub.add_parser("read", help="read and verify the chip (PACE/BAC, PA, CA/AA)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--qr", metavar="PAYLOAD", help="the card's QR payload")
    source.add_argument("--mrz-file", metavar="F", help="the three MRZ lines ('-' = stdin)")
    source.add_argument(
        "--bac", metavar="DOCNO,YYMMDD,YYMMDD", help="document number, birth, expiry"
    )
    p.add_argument("--can", metavar="N", help="card access number for PACE (default: from --qr)")
    p.add_argument("--access", choices=("auto", "pace", "bac"), help="access control to use")
    p.add_argument("--reader", metavar="NAME", help="'sim', or part of the PC/SC reader name")
    p.add_argument(
        "--sim-access", choices=("both", "pace", "bac"), help="sim only: what the chip offers"
    )
    p.add_argument("--sim-ca", action="store_true", help="sim only: chip offers chip auth")
    p.add_argument("--trust", metavar="DIR", help="CSCA trust store folder (PEM/DER, .ml)")
    p.add_argument("--out", metavar="DIR", help="write the face image here (face.jpg/face.jp2)")
    p.add_argument("--identity", metavar="F", help="sim only: identity JSON for the chip")
    p.add_argument("--photo", metavar="F", help="sim only: face photo for the chip")
    p.add_argument("--pki", metavar="DIR", help="sim only: test PKI (appliance card pki)")
    p.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT_S, metavar="S", help="wait for a card"
    )
    p.add_argument("--timeout", type=float, default=0.0, metavar="S", help="read time budget")
    p.add_argument("--block-size", type=int, default=0, metavar="N", help="first block size")
    p.add_argument("--extended", choices=("auto", "on", "off"), help="extended length APDUs")
    add_json_flag(p)
    p.set_defaults(func=cmd_read)

    p = card_sub.add_parser("pki", help="make a test CSCA and Document Signer")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--csca", choices=CSCA_KINDS, default="ec-explicit")
    p.add_argument("--ds", choices=DS_KINDS, default="ec")
    add_json_flag(p)
    p.set_defaults(func=cmd_pki)

    p = card_sub.add_parser("emulate", help="serve an emulated chip to vpcd (tests, development)")
    p.add_argument("--identity", required=True, metavar="F", help="identity JSON")
    p.add_argument("--photo", required=True, metavar="F", help="face photo (JPEG, JPEG 2000, ...)")
    p.add_argument("--pki", required=True, metavar="DIR", help="test PKI (appliance card pki)")
    p.add_argument("--vpcd", default="localhost:35963", metavar="HOST:PORT")
    p.add_argument("--aa", choices=("rsa", "ec", "none"), default="rsa", help="active auth key")
    p.add_argument(
        "--access",
        dest="access_offer",
        choices=("both", "pace", "bac"),
        default="both",
        help="what the chip offers: PACE (CAN, MRZ; brainpoolP256r1, P-256) and/or BAC",
    )
    p.add_argument("--ca", action="store_true", help="offer chip authentication (DG14)")
    p.add_argument("--fault", choices=FAULTS[1:], default="", help="misbehave (tests)")
    p.add_argument("--max-le", type=int, default=0, metavar="N", help="refuse larger Le")
    p.add_argument("--no-extended", action="store_true", help="no extended length APDUs")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="stop after S s")
    add_json_flag(p)
    p.set_defaults(func=cmd_emulate)
