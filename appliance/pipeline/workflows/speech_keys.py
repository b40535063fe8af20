"""What each kiosk screen says aloud: the speech keys of a screen message (docs/ui-protocol.md).

Every ``screen`` message carries ``speech``: a list of items ``{"key": K, "args": {...}}`` where
``K`` is a translation key (``kiosk_ui/i18n/*.json`` or a language pack) and each arg value is
either another translation key (a finger name, a device) or a plain value. The page asks the
service for the spoken form of each item (``GET /speech``); the audio pack's clip for the item is
used when one was recorded for the current text, else eSpeak NG renders it.

Personal data is never spoken (no name, no ID number, no receipt code): a kiosk stands in a
public room. Operator screens say only their title.

Live guidance has keys too, spoken by the page when the instruction changes:
``guidance.face.<reason>`` and ``guidance.finger.<feedback code>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Item = dict[str, Any]


def item(key: str, **args: str) -> Item:
    return {"key": key, "args": args}


def _keys(*keys: str) -> Callable[[dict[str, Any]], list[Item]]:
    return lambda d: [item(k) for k in keys]


def _consent(d: dict[str, Any]) -> list[Item]:
    purposes = [item(f"consent.purpose.{p}") for p in d.get("purposes") or []]
    return [item("consent.title"), item("consent.intro"), *purposes, item("consent.note")]


def _finger(d: dict[str, Any]) -> list[Item]:
    return [item("finger.place", finger=f"finger.name.{d.get('finger')}")]


def _finger_failed(d: dict[str, Any]) -> list[Item]:
    out = [
        item("finger_failed.title"),
        item("finger_failed.body", finger=f"finger.name.{d.get('finger')}"),
    ]
    feedback = d.get("feedback") or []
    out.append(item(f"guidance.finger.{feedback[0]}" if feedback else "finger.generic_hint"))
    return out


def _keypad(d: dict[str, Any]) -> list[Item]:
    out = [item(f"keypad.{d.get('field', 'dob')}.title"), item("keypad.body")]
    if d.get("error"):
        out.insert(0, item(f"keypad.error.{d['error']}"))
    return out


def _result(d: dict[str, Any]) -> list[Item]:
    overall = (d.get("auth") or {}).get("overall", "cannot_confirm")
    return [item(f"result.title.{overall}"), item("result.take_card")]


def _face_live(d: dict[str, Any]) -> list[Item]:
    return [item("verify_face.live.title"), item(f"verify_face.challenge.{d.get('challenge')}")]


def _face_result(d: dict[str, Any]) -> list[Item]:
    word = "owner" if d.get("owner") else "officer"
    return [item(f"verify_face.result.{word}"), item(f"verify_face.result.{word}_body")]


def _gate_result(d: dict[str, Any]) -> list[Item]:
    if d.get("admitted"):
        return [item("gate.admit")]
    return [item("gate.refuse"), item(f"gate.reason.{d.get('decision', 'other')}")]


def _error(d: dict[str, Any]) -> list[Item]:
    kind = d.get("kind") or "not_available"
    device = f"device.{d['device']}" if d.get("device") else "device.any"
    return [item(f"error.title.{kind}"), item(f"error.body.{kind}", device=device)]


SCREEN_SPEECH: dict[str, Callable[[dict[str, Any]], list[Item]]] = {
    "home": _keys("home.title", "home.subtitle"),
    "enroll.scan": _keys("scan.title", "scan.body"),
    "verify.scan": _keys("scan.title", "scan.body"),
    "enroll.confirm": _keys("confirm.title"),
    "enroll.consent": _consent,
    "enroll.declined": _keys("declined.title", "declined.body"),
    "enroll.face": _keys("face.title", "face.body"),
    "enroll.finger": _finger,
    "enroll.finger_failed": _finger_failed,
    "enroll.review": _keys("review.title"),
    "enroll.saving": _keys("saving.title"),
    "enroll.receipt": _keys("receipt.title", "receipt.body"),
    "verify.keypad": _keypad,
    "verify.tap": _keys("tap.title", "tap.body"),
    "verify.reading": _keys("reading.title", "reading.body"),
    "verify.result": _result,
    "verify.face_consent": _keys("verify_face.consent.title", "verify_face.consent.body"),
    "verify.face_live": _face_live,
    "verify.face_result": _face_result,
    "gate.ready": _keys("gate.ready.title", "gate.ready.body"),
    "gate.result": _gate_result,
    "op.login": _keys("op.login.title"),
    "op.locked": _keys("op.locked.title"),
    "op.menu": _keys("op.menu.title"),
    "op.records": _keys("op.records.title"),
    "op.withdraw": _keys("op.withdraw.title"),
    "error": _error,
}


def speech_for(screen: str, data: dict[str, Any]) -> list[Item]:
    """The items spoken when ``screen`` is shown with ``data`` (the error screen's if unknown)."""
    try:
        return SCREEN_SPEECH.get(screen, _error)(data)
    except (AttributeError, TypeError, KeyError, IndexError):  # odd data: say the title only
        return [item("error.title.not_available")]


# --- every item the kiosk can say (for audio packs and the completeness tests) -----------------

FINGER_NAMES = tuple(
    f"{side}_{f}"
    for side in ("right", "left")
    for f in ("thumb", "index", "middle", "ring", "little")
)
DEVICES = (None, "camera", "fingerprint", "card_reader", "qr_scanner", "indicators")
HELP_OFFER = ("help_offer.title", "help_offer.body_face", "help_offer.body_finger")


def screen_samples(purposes: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every variant of screen data that changes what is said."""
    from appliance.pipeline.finger_quality import INSTRUCTIONS
    from appliance.pipeline.workflows.engine import ERROR_KINDS

    fixed: dict[str, list[dict[str, Any]]] = {s: [{}] for s in SCREEN_SPEECH}
    fingers = [{"finger": f} for f in FINGER_NAMES]
    codes: list[list[str]] = [[], *([c] for c in INSTRUCTIONS)]
    failed = [{"finger": "right_index", "feedback": fb} for fb in codes]
    return {
        **fixed,
        "enroll.consent": [{"purposes": purposes or ["face", "fingerprints"]}],
        "enroll.finger": fingers,
        "enroll.finger_failed": fingers + failed,
        "verify.keypad": [
            {"field": f, "error": e} for f in ("dob", "expiry") for e in (None, "bad_date")
        ],
        "verify.result": [
            {"auth": {"overall": o}} for o in ("genuine", "cannot_confirm", "not_genuine")
        ],
        "verify.face_live": [{"challenge": c} for c in ("turn_left", "turn_right", "blink")],
        "verify.face_result": [{"owner": True}, {"owner": False}],
        "gate.result": [{"admitted": True}]
        + [
            {"admitted": False, "decision": d}
            for d in ("expired", "invalid", "duplicate", "unknown_layout", "other")
        ],
        "error": [{"kind": k, "device": dev} for k in ERROR_KINDS for dev in DEVICES],
    }


def live_items() -> list[Item]:
    """What the page says on live updates (face guidance, finger phases, the help offer)."""
    from appliance.pipeline.face_guidance import GUIDANCE
    from appliance.pipeline.finger_quality import INSTRUCTIONS

    out = [item(f"guidance.face.{c}") for c in GUIDANCE]
    out += [
        item("face.good"),
        item("face.captured"),
        item("face.move_left"),
        item("face.move_right"),
    ]
    out += [item(f"guidance.finger.{c}") for c in INSTRUCTIONS]
    out += [item("finger.capturing"), item("finger.done"), item("finger.generic_hint")]
    out += [item("finger.retry", finger=f"finger.name.{f}") for f in FINGER_NAMES]
    out += [item(k) for k in HELP_OFFER]
    out += [item("common.still_there"), item("help.called.title"), item("help.called.body")]
    return out


def all_items(purposes: list[str] | None = None) -> list[Item]:
    """Every distinct item, screens first, in a stable order."""
    seen: dict[str, Item] = {}
    for screen, samples in screen_samples(purposes).items():
        if screen.startswith("_"):
            continue
        for data in samples:
            for it in speech_for(screen, data):
                seen.setdefault(_ident(it), it)
    for it in live_items():
        seen.setdefault(_ident(it), it)
    return list(seen.values())


def _ident(it: Item) -> str:
    return "+".join([it["key"], *(str(it["args"][k]) for k in sorted(it["args"]))])
