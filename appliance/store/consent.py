"""Consent withdrawal by receipt code, for the operator screen and ``appliance consent withdraw``.

``appliance consent withdraw --receipt CODE [--reason CODE]`` (``--profile/--config/--sim``,
``--state-dir``) prints the withdrawal and the consent record as it now stands. On the kiosk the
captures made under that consent turn ``withdrawn`` and their bundles not yet delivered are
deleted; a bundle already uploaded or exported is out of the kiosk's reach, so a sealed
``consent_withdrawal`` notice naming it is queued for the office, which must delete it
(docs/data-lifecycle.md, "Consent").
"""

from __future__ import annotations

import re
from typing import Any

from appliance.cli_output import EXIT_INVALID, EXIT_OK, emit, fail
from appliance.store.cli import _data_args, _open
from appliance.store.privacy import RECEIPT_ALPHABET

_CODE = re.compile(f"[{RECEIPT_ALPHABET}]{{4}}-?[{RECEIPT_ALPHABET}]{{4}}")


def normalise_receipt(code: str) -> str | None:
    """``k7q2m4xd`` / ``K7Q2-M4XD`` -> ``K7Q2-M4XD``; None if it cannot be a receipt code."""
    text = str(code).strip().upper().replace(" ", "")
    if not _CODE.fullmatch(text):
        return None
    text = text.replace("-", "")
    return f"{text[:4]}-{text[4:]}"


def withdraw_by_receipt(store: Any, code: str, reason: str | None) -> dict[str, Any] | None:
    """Withdraw the consent behind receipt ``code``; None when no capture has that code."""
    receipt = normalise_receipt(code)
    if receipt is None:
        return None
    rows = store.query("SELECT consent_id FROM captures WHERE receipt_code = ?", (receipt,))
    if not rows or not rows[0]["consent_id"]:
        return None
    result = store.withdraw_consent(receipt_code=receipt, reason=reason)
    captures = result.get("captures", 0)
    deleted = result.get("deleted_unsent", 0)
    return {
        "receipt_code": receipt,
        **result,
        # Already uploaded or exported: only the office can delete them (the notice says which).
        "already_delivered": 0 if result.get("already_withdrawn") else captures - deleted,
        "consent": store.consent(result["consent_id"]),
    }


def cmd_consent_withdraw(args: Any) -> int:
    if normalise_receipt(args.receipt) is None:
        return fail(args, "usage", f"{args.receipt!r} is not a receipt code (XXXX-XXXX)")
    with _open(args) as store:
        result = withdraw_by_receipt(store, args.receipt, args.reason)
    if result is None:
        return fail(args, "not_found", f"no capture with receipt code {args.receipt}", EXIT_INVALID)
    emit({"ok": True, **result}, args)
    return EXIT_OK


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag

    p = sub.add_parser("consent", help="a citizen's consent: withdraw it by receipt code")
    csub = p.add_subparsers(dest="consent_command", required=True, parser_class=_Parser)
    p = csub.add_parser("withdraw", help="withdraw the consent behind a receipt code")
    _data_args(p)
    p.add_argument("--receipt", required=True, help="the receipt code the citizen was given")
    p.add_argument("--reason", default="citizen_request", help="a short code (citizen_request)")
    add_json_flag(p)
    p.set_defaults(func=cmd_consent_withdraw)
