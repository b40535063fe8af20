"""Logging set-up: one line per event, and no full ID number in any record, ever."""

from __future__ import annotations

import logging
import re
import sys

ID_NUMBER = re.compile(r"(?<!\d)(\d{3})\d{6}(\d{3})(?!\d)")


def mask_ids(text: str) -> str:
    """Mask every 12-digit ID number: ``001090012345`` -> ``001******345``."""
    return ID_NUMBER.sub(r"\1******\2", text)


class MaskIdFilter(logging.Filter):
    """Rewrites each record's message (arguments and traceback included) with IDs masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the event
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_ids(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_ids(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_ids(record.stack_info)
        return True


class OneLineFormatter(logging.Formatter):
    """Tracebacks folded onto the event's line (journald and log shippers keep events whole)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(level: str = "INFO", stream=None) -> None:
    """Configure the root logger once: level from config, masking on every handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_appliance", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._appliance = True  # type: ignore[attr-defined]
    handler.addFilter(MaskIdFilter())
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
