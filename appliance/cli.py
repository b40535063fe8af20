"""The single ``appliance`` command: each area registers its sub-commands here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from appliance import __version__
from appliance.cli_output import EXIT_DEVICE, EXIT_INVALID, fail, fail_exc
from appliance.errors import ApplianceError

# Modules with a ``register(subparsers)`` function, in the order `appliance --help` lists them.
COMMAND_MODULES = [
    "appliance.service",
    "appliance.doctor",
    "appliance.cccd.cli",
    "appliance.icao.cli",
    "appliance.pipeline.qr_cli",  # adds `qr decode` to the qr group above
    "appliance.pipeline.report_cli",
    "appliance.store.cli",
    "appliance.store.consent",
    "appliance.pipeline.finger_cli",
    "appliance.pipeline.face_cli",
    "appliance.provision",
    "appliance.hub.cli",
    "appliance.update.cli",
    "appliance.benchcli",
    "appliance.kiosk_ui.audio_cli",  # `appliance ui audio-pack|languages`
]

log = logging.getLogger("appliance.cli")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with the standard error object instead of a bare usage line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(fail(argparse.Namespace(json=True), "usage", message, EXIT_INVALID))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="appliance", description="CCCD kiosk appliance")
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (default when piped)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ApplianceError as exc:
        return fail_exc(args, exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last resort: a typed message, never a traceback on a screen
        log.exception("internal error")
        return fail(args, "internal", f"internal error: {type(exc).__name__}: {exc}", EXIT_DEVICE)


if __name__ == "__main__":
    raise SystemExit(main())
