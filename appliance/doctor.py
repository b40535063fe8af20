"""``appliance doctor``: the field technician's self-test.

Opens and exercises each configured device (reads a frame, handshakes, lists readers, blinks an
LED) and says what to fix. It never pulses the gate relay unless ``--actuate`` is given.
"""

from __future__ import annotations

import sys
from typing import Any

from appliance.cli_output import emit, wants_json
from appliance.config import DEVICE_KINDS, Config, load_config_for
from appliance.hal.base import DEFAULT_FIX
from appliance.hal.manager import describe_error
from appliance.hal.registry import create_device


def probe_device(cfg: Config, kind: str, actuate: bool = False) -> dict[str, Any]:
    """Open, exercise and check one device; say what was tried and what to fix."""
    section = cfg.device(kind)
    result: dict[str, Any] = {
        "backend": section.backend,
        "required": section.required,
        "ok": False,
        "location": None,
        "tried": [],
        "detail": "",
        "fix": None,
    }
    tried: list[str] = result["tried"]
    device = None
    step = f"load backend {section.backend}"
    try:
        tried.append(step)
        device = create_device(kind, section)
        result["location"] = device.location()
        step = f"open {result['location']}".strip()
        tried.append(step)
        device.open()
        device.is_open = True
        step = "probe"
        tried.append(step)
        detail = device.probe()
        step = "check it is still there"
        tried.append(step)
        device.check()
        if actuate and kind == "indicators":
            step = "pulse gate relay"
            tried.append(step)
            device.open_gate(300)  # type: ignore[attr-defined]
            detail += "; gate relay pulsed 300 ms"
        result.update(ok=True, detail=detail)
    except Exception as exc:
        result["detail"] = f"{step} failed: {describe_error(exc)}"
        hint = device.fix_hint(exc) if device is not None else None
        result["fix"] = hint or _generic_fix(kind, exc)
    finally:
        if device is not None:
            try:
                device.close()
            except Exception:
                pass
    return result


def _generic_fix(kind: str, exc: BaseException) -> str:
    message = describe_error(exc)
    if "needs" in message and "install" in message:
        return message.split(": ", 1)[-1]
    return DEFAULT_FIX[kind]


SAVING_MODES = ("enrollment", "operator")  # the modes whose captures must be sealed and saved


def check_saving(cfg: Config) -> dict[str, Any]:
    """Can this kiosk seal and save a capture? (A kiosk that cannot must not offer enrollment.)

    Looks for the office public key as the store would, without opening the database.
    """
    from appliance.store.store import _office_key

    needed = cfg.service.mode in SAVING_MODES
    result: dict[str, Any] = {"required": needed, "ok": True, "detail": "", "fix": None}
    try:
        key, source = _office_key(cfg.store, cfg.state_dir, None)
    except Exception as exc:  # a damaged key file: say so, never a traceback
        key, source = None, describe_error(exc)
    if key is not None:
        result["detail"] = f"captures are sealed to the office key ({source})"
        return result
    result.update(ok=False, code="office_key_missing", detail=f"no office public key: {source}")
    result["fix"] = (
        "install the office's public key (appliance keys office) at [store] office_public_key; "
        "until then the kiosk offers no enrollment"
    )
    return result


def cmd_doctor(args) -> int:
    cfg = load_config_for(args)
    devices = {kind: probe_device(cfg, kind, args.actuate) for kind in DEVICE_KINDS}
    saving = check_saving(cfg)
    ok = all(d["ok"] or not d["required"] for d in [*devices.values(), saving])
    report = {"ok": ok, "profile": cfg.profile, "devices": devices, "saving": saving}
    if wants_json(args):
        emit(report, args)
    else:
        print(f"profile {cfg.profile}: {'all required devices pass' if ok else 'PROBLEMS FOUND'}")
        for kind, d in devices.items():
            mark = "ok  " if d["ok"] else ("FAIL" if d["required"] else "warn")
            print(f"[{mark}] {kind:<12} {d['backend']:<10} {d['location'] or ''}")
            print(f"       {d['detail']}")
            if d["fix"]:
                print(f"       fix: {d['fix']}")
        mark = "ok  " if saving["ok"] else ("FAIL" if saving["required"] else "warn")
        print(f"[{mark}] {'saving':<12} {saving['detail']}")
        if saving["fix"]:
            print(f"       fix: {saving['fix']}")
        sys.stdout.flush()
    return 0 if ok else 1


def register(sub) -> None:
    from appliance.cli import add_json_flag
    from appliance.service import add_config_args

    p = sub.add_parser("doctor", help="self-test every configured device")
    add_config_args(p)
    p.add_argument("--actuate", action="store_true", help="also pulse the gate relay")
    add_json_flag(p)
    p.set_defaults(func=cmd_doctor)
