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

With ``[gate] face_check = true`` the visitor must also be the card's holder: the liveness
challenge and the 1:1 comparison of :mod:`appliance.pipeline.face_verify` run on the camera
against the chip's DG2 portrait, and only a DG2 whose hash matched EF.SOD is compared (else
``face_not_compared``). ``no_match``, ``cannot_tell`` and a failed challenge are
``face_no_match``, ``face_cannot_tell`` and ``face_liveness_failed``; no camera is
``face_no_camera``, a camera or model error ``face_unavailable``. Only the decision and the score
band are logged; the frames and embeddings stay in memory and are dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from typing import Any

from appliance.errors import ApplianceError
from appliance.icao.errors import BacFailed, NoCard
from appliance.icao.reader import read_card

log = logging.getLogger(__name__)

CHIP_REFUSED = "chip_refused"
FACE_REASONS = {
    "no_match": "face_no_match",
    "cannot_tell": "face_cannot_tell",
    "liveness_failed": "face_liveness_failed",
}
_matchers: dict[str, Any] = {}  # one FaceMatcher per [face] settings, loaded on first use
_matcher_lock = threading.Lock()


def _refuse(decision: Any, reason: str) -> Any:
    log.info("chip policy: refused (%s)", reason)
    return dataclasses.replace(decision, decision=CHIP_REFUSED, admitted=False, reason=reason)


def _matcher(face_cfg: Any) -> Any:
    from appliance.pipeline.face_match import FaceMatcher

    key = repr(face_cfg)
    with _matcher_lock:
        if key not in _matchers:
            _matchers[key] = FaceMatcher(face_cfg)
        return _matchers[key]


def face_check(card: Any, camera: Any, cfg: Any, challenge: str | None = None) -> str | None:
    """None when the live face at ``camera`` passes the challenge and matches the chip's DG2
    portrait; otherwise the refusal reason. Blocks (the gate runs it in its scan thread)."""
    from appliance.pipeline.face_verify import live_check

    if card.passive_auth.data_groups.get("DG2") != "ok" or card.face is None:
        return "face_not_compared"  # a photo the signature does not cover is never compared
    if camera is None:
        return "face_no_camera"
    challenge = challenge or secrets.choice(list(cfg.ui.liveness_challenges))
    stop = threading.Event()  # a backstop: the challenge's own time limit ends the loop
    timer = threading.Timer(cfg.face.liveness_time_limit_s + 5.0, stop.set)
    timer.start()
    try:
        outcome = live_check(camera, _matcher(cfg.face), card.face.data, challenge, stop)
    except Exception as exc:  # a camera or model fault refuses, never opens the gate
        log.warning("chip policy: face check failed (%s)", type(exc).__name__)
        return "face_unavailable"
    finally:
        timer.cancel()
    record = outcome.record()
    log.info("chip policy: face %s band=%s", record["decision"], record["score_band"])
    return None if outcome.owner else FACE_REASONS.get(outcome.decision, "face_no_match")


def confirm_with_chip(decision: Any, reader: Any, cfg: Any, camera: Any = None) -> Any:
    """The final decision for a QR ``decision`` that would admit (``decision.qr`` is set);
    ``camera`` is used only with ``[gate] face_check``."""
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
    if getattr(cfg.gate, "face_check", False):
        reason = face_check(card, camera, cfg)
        if reason is not None:
            return _refuse(decision, reason)
    return decision
