"""Output rules shared by every CLI command (ARCHITECTURE.md, "Command-line contracts").

JSON on stdout when ``--json`` is given or stdout is not a terminal, readable text otherwise;
failures are ``{"ok": false, "error": {"code", "message"}}`` plus a line on stderr.
Exit codes: 0 done, 1 device or internal error, 2 invalid input or usage.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from appliance.errors import ApplianceError, ConfigError, InvalidInput

EXIT_OK = 0
EXIT_DEVICE = 1
EXIT_INVALID = 2


def wants_json(args: Any) -> bool:
    return bool(getattr(args, "json", False)) or not sys.stdout.isatty()


def _text(obj: Any, indent: str = "") -> str:
    if isinstance(obj, dict):
        lines = []
        for key, value in obj.items():
            if isinstance(value, dict | list) and value:
                lines.append(f"{indent}{key}:")
                lines.append(_text(value, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {value}")
        return "\n".join(lines)
    if isinstance(obj, list):
        return "\n".join(
            f"{indent}- {_text(v, indent + '  ').lstrip()}"
            if isinstance(v, dict)
            else f"{indent}- {v}"
            for v in obj
        )
    return f"{indent}{obj}"


def emit(obj: dict[str, Any], args: Any) -> None:
    """Print one result object (JSON, or readable text on a terminal)."""
    if wants_json(args):
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_text(obj) + "\n")
    sys.stdout.flush()


def error_object(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, **extra, "error": {"code": code, "message": message}}


def fail(args: Any, code: str, message: str, exit_code: int = EXIT_INVALID, **extra: Any) -> int:
    """Report a failure the standard way and return the exit code to use."""
    emit(error_object(code, message, **extra), args)
    sys.stderr.write(f"appliance: {message}\n")
    return exit_code


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, InvalidInput | ConfigError):
        return EXIT_INVALID
    return EXIT_DEVICE


def fail_exc(args: Any, exc: ApplianceError, **extra: Any) -> int:
    return fail(args, exc.code, exc.message, exit_code_for(exc), **extra)
