"""The gate's ``chip`` policy: a QR admits only once the card itself is tapped and verified.

The 2021 QR is unsigned text: anyone can print a self-consistent payload (docs/qr-gate.md). With
``[gate] assurance = "chip"`` a QR that would admit opens the gate only after the visitor taps
the card on the reader within ``chip_wait_s`` and

* BAC opens the chip with the keys the QR gives (document number, birth and expiry dates):
  otherwise the QR is not this card's (``chip_mismatch``);
* passive authentication is ``verified`` (the data groups are signed by a trusted Document
  Signer, chained to a CSCA in the trust store): otherwise ``chip_not_verified``;
* active authentication did not fail (a failed one is a clone): ``chip_not_genuine``;
* the chip's ID number (DG13, covered by the signature) is the QR's: ``chip_mismatch``.

No card within the wait is ``chip_timeout``, no reader ``chip_no_reader``, a read error
``chip_unreadable``. Every refusal is the decision ``chip_refused`` with that reason. The chip is
read with :func:`appliance.icao.reader.read_card`; nothing from it is logged or kept.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from appliance.errors import ApplianceError
from appliance.icao.errors import BacFailed, NoCard
from appliance.icao.reader import read_card

log = logging.getLogger(__name__)

CHIP_REFUSED = "chip_refused"


def _refuse(decision: Any, reason: str) -> Any:
    log.info("chip policy: refused (%s)", reason)
    return dataclasses.replace(decision, decision=CHIP_REFUSED, admitted=False, reason=reason)


def confirm_with_chip(decision: Any, reader: Any, cfg: Any) -> Any:
    """The final decision for a QR ``decision`` that would admit (``decision.qr`` is set)."""
    qr = decision.qr
    if qr is None or qr.bac is None:  # an unknown layout has no BAC keys: no chip to check
        return _refuse(decision, "chip_mismatch")
    if reader is None:
        return _refuse(decision, "chip_no_reader")
    bac = (qr.bac.document_number, qr.bac.date_of_birth, qr.bac.date_of_expiry)
    trust_dir = cfg.card_reader.trust_dir if cfg.card_reader.backend != "sim" else None
    try:
        card = read_card(
            reader,
            bac,
            trust_dir=trust_dir or None,
            max_file_bytes=cfg.card_reader.max_file_bytes,
            timeout_s=cfg.ui.chip_read_s,
            wait_s=cfg.gate.chip_wait_s,
        )
    except NoCard:
        return _refuse(decision, "chip_timeout")
    except BacFailed:
        return _refuse(decision, "chip_mismatch")
    except ApplianceError as exc:
        log.info("chip policy: read failed: %s", exc.code)
        return _refuse(decision, "chip_unreadable")
    except Exception as exc:  # an untyped chip error must refuse, never open the gate
        log.warning("chip policy: read failed (%s)", type(exc).__name__)
        return _refuse(decision, "chip_unreadable")
    if card.passive_auth.status != "verified":
        return _refuse(decision, "chip_not_verified")
    if card.active_auth.status == "failed":
        return _refuse(decision, "chip_not_genuine")
    if (card.dg13 or {}).get("id_number") != qr.id_number:
        return _refuse(decision, "chip_mismatch")
    return decision
