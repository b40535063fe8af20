"""The workflow adapters on the running service: devices plus the other areas' modules.

Each step calls one method here, and each method calls the module that owns the logic: the QR
parser and ID masking (``appliance.cccd``), the chip reader (``appliance.icao.reader``), live face
capture (``appliance.pipeline.face_capture``), fingerprint capture and quality
(``appliance.pipeline.finger_capture`` / ``finger_quality``), the store (``appliance.store``) and
the gate (``appliance.pipeline.gate``). The heavy ones (models, OpenCV) are imported on first use.

Blocking device calls run in worker threads, one at a time per device (a timed-out call may still
be finishing in its thread; the next one waits for it). Errors become
:class:`~appliance.pipeline.workflows.engine.StepError` kinds the citizen is shown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from appliance.cccd.ids import mask_id, parse_id_number
from appliance.cccd.mrz import yymmdd
from appliance.cccd.qr import QrError, parse_qr
from appliance.clock import clock_synchronized
from appliance.errors import (
    ApplianceError,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    InvalidInput,
)
from appliance.icao.errors import FaceImageError
from appliance.icao.faceimage import to_jpeg as chip_face_jpeg
from appliance.pipeline.workflows.adapters import (
    ChipResult,
    ConsentText,
    Enrollment,
    FaceResult,
    FingerResult,
    GateResult,
    Identity,
    Progress,
    Update,
)
from appliance.pipeline.workflows.chip_parts import (
    READ_STAGES,
    _can,
    access_label,
    stage_progress,
)
from appliance.pipeline.workflows.engine import StepError
from appliance.pipeline.workflows.face_check import verify_face
from appliance.pipeline.workflows.lockout import LOCKOUT_FILE
from appliance.pipeline.workflows.pin import operator_pin_hash, verify_pin
from appliance.pipeline.workflows.progress import smoothed
from appliance.pipeline.workflows.service_parts import (  # noqa: F401 (re-exported)
    GatedSensor,
    Preview,
    PreviewCamera,
    _clock_time,
    _finger_event,
    _save,
    encode_jpeg,
    encode_png,
    make_due_now,
    save_problem,
)
from appliance.store.consent import withdraw_by_receipt
from appliance.timefloor import time_floor

log = logging.getLogger(__name__)

POLL_S = 0.5  # device waits are cut into slices this long so cancellation is prompt


def to_jpeg(data: bytes, card_cfg: Any = None) -> bytes:
    """A chip photo as JPEG for the screen (JPEG 2000 is converted; browsers cannot show it),
    decoded only within the ``[card_reader]`` face image budget (FaceImageError otherwise)."""
    budget = {}
    if card_cfg is not None:
        budget = {"max_pixels": card_cfg.face_max_pixels, "max_bytes": card_cfg.face_max_bytes}
    return chip_face_jpeg(data, **budget)


class ServiceAdapters:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.cfg = service.cfg
        self.devices = service.devices
        self.preview = Preview()
        self._locks = {kind: threading.Lock() for kind in self.devices.slots}
        self._help_timer: asyncio.TimerHandle | None = None
        self.store_error: str | None = None  # why the store could not be opened
        # Demo only: set by the "finger on sensor" control; a simulated finger waits for it.
        self.finger_gate: threading.Event | None = None
        self.gate: Any = None  # appliance.pipeline.gate.Gate in check-in mode
        self._gate_events: asyncio.Queue | None = None
        self._face_quality: Any = None
        self._finger_quality: Any = None

    # --- plumbing -----------------------------------------------------------------------------

    def is_sim(self, kind: str) -> bool:
        return self.cfg.device(kind).backend in ("sim", "mock")

    def device(self, kind: str) -> Any:
        dev = self.devices.get(kind)
        if dev is None:
            raise StepError("device_unavailable", f"{kind} unavailable", device=kind, detail=kind)
        return dev

    async def call(self, kind: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run a blocking device call in a thread, one at a time per device; map its errors."""
        lock = self._locks[kind]

        def locked() -> Any:
            with lock:
                return fn(*args, **kw)

        try:
            return await asyncio.to_thread(locked)
        except DeviceTimeout as exc:
            raise StepError("timeout", exc.message, device=kind, detail=kind) from exc
        except DeviceUnavailable as exc:
            self.devices.report_failure(kind, exc)
            raise StepError("device_unavailable", exc.message, device=kind, detail=kind) from exc
        except DeviceError as exc:
            raise StepError(
                "device_unavailable", exc.message, device=kind, detail=exc.code
            ) from exc
        except StepError:
            raise
        except ApplianceError as exc:  # a module refused (a model, a policy): staff must look
            log.error("%s step failed: %s (%s)", kind, exc.message, exc.code)
            raise StepError("not_available", exc.message, device=kind, detail=exc.code) from exc
        except Exception as exc:  # a bug below the workflow: a friendly screen, a full log
            log.exception("%s step failed", kind)
            raise StepError("not_available", str(exc), device=kind, detail="internal") from exc

    def store(self) -> Any | None:
        return getattr(self.service, "store", None)

    # --- identify -----------------------------------------------------------------------------

    async def scan_qr(self, ready: Callable[[], None]) -> bytes:
        dev = self.device("qr_scanner")

        def drain() -> None:  # payloads scanned before this screen belong to nobody
            while dev.read(0) is not None:
                pass

        await self.call("qr_scanner", drain)
        ready()
        while True:
            payload = await self.call("qr_scanner", dev.read, POLL_S)
            if payload:
                return payload

    def identify(self, payload: bytes) -> Identity:
        from appliance.pipeline.gate import FAR_FUTURE

        synced = clock_synchronized()
        try:  # an unsynchronised clock (a Pi just booted) must not make valid cards "future"
            qr = parse_qr(payload, today=None if synced else FAR_FUTURE)
        except QrError as exc:
            raise StepError("invalid_qr", exc.message, detail=exc.code) from exc
        # by the clock or, unsynchronised, before the time floor (else None: no claim)
        expired = time_floor(self.cfg.state_dir).expired(qr.expiry_date)
        record = qr.to_dict()
        record.pop("ok", None)
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return Identity(
            id_number=qr.id_number,
            masked_id=mask_id(qr.id_number),
            layout=qr.layout,
            full_name=qr.full_name,
            date_of_birth=iso(qr.date_of_birth),
            sex=qr.sex,
            expiry_date=iso(qr.expiry_date),
            expired=expired,
            bac=(qr.bac.document_number, qr.bac.date_of_birth, qr.bac.date_of_expiry)
            if qr.bac
            else None,
            record=record,
        )

    def bac_from_dates(self, id_number: str, dob: str, expiry: str | None) -> tuple[str, str, str]:
        ident = parse_id_number(id_number)
        born = date.fromisoformat(dob)
        if born.year != ident.birth_year:
            raise InvalidInput(
                "the year of birth does not match the card number", code="year_mismatch"
            )
        doe = date.fromisoformat(expiry) if expiry else None
        if doe is not None and doe <= born:
            raise InvalidInput("the expiry date is before the date of birth", code="date_order")
        return ident.document_number, yymmdd(born), yymmdd(doe)

    # --- chip ---------------------------------------------------------------------------------

    async def wait_card(self) -> None:
        reader = self.device("card_reader")
        while not await self.call("card_reader", reader.wait_card, POLL_S):
            pass

    async def read_chip(self, bac: tuple[str, str, str], progress: Progress) -> ChipResult:
        reader = self.device("card_reader")
        # the bar moves from the start and never leaps (issue #17)
        return await smoothed(
            progress,
            READ_STAGES["bac"],
            lambda report, stage_end: self.call(
                "card_reader", _read_chip, self.cfg, reader, bac, report, stage_end
            ),
        )

    async def wait_card_removed(self) -> None:
        """Return once the card has left the reader (the result screen then clears)."""
        reader = self.device("card_reader")
        while await self.call("card_reader", reader.card_present):
            await asyncio.sleep(POLL_S)

    # --- face ---------------------------------------------------------------------------------

    async def capture_face(self, update: Update) -> FaceResult:
        camera = self.device("camera")
        self.preview.active = True  # the page asks for the stream as soon as the screen shows
        try:
            return await self._capture_face(camera, update)
        finally:
            self.preview.stop()

    async def _capture_face(self, camera: Any, update: Update) -> FaceResult:
        from appliance.pipeline.face_capture import LiveFaceCapture
        from appliance.pipeline.face_hints import face_direction
        from appliance.pipeline.face_quality import FaceQuality

        loop = asyncio.get_running_loop()
        if self._face_quality is None:  # the models load once, off the event loop
            self._face_quality = await asyncio.to_thread(FaceQuality, self.cfg.face)
        needed = self.cfg.face.consecutive_frames
        streak = 0

        def on_result(a: Any) -> None:  # the scoring thread
            nonlocal streak
            streak = streak + 1 if a.passed else 0
            msg = {
                "verdict": a.verdict,
                "reasons": list(a.reasons),
                "progress": round(min(1.0, streak / needed), 3),
                "direction": face_direction(a),  # off_center: which way (pictogram, voice)
            }
            loop.call_soon_threadsafe(update, msg)

        def sink(jpeg: bytes) -> None:
            loop.call_soon_threadsafe(self.preview.publish, jpeg)

        live = LiveFaceCapture(
            PreviewCamera(camera, sink),
            quality=self._face_quality,
            cfg=self.cfg.face,
            on_result=on_result,
        )
        stop = threading.Event()
        try:
            jpeg = await self.call("camera", live.run, stop)
        finally:
            stop.set()
        if jpeg is None or live.portrait_assessment is None:
            raise StepError("capture_failed", "no portrait", detail="face")
        return FaceResult(jpeg, live.portrait_assessment.to_dict())

    async def verify_face(self, photo: bytes, challenge: str, update: Update) -> dict[str, Any]:
        return await verify_face(self, PreviewCamera, photo, challenge, update)

    # --- fingers ------------------------------------------------------------------------------

    async def capture_finger(self, finger: str, update: Update) -> FingerResult:
        from appliance.pipeline.finger_capture import FingerCapture
        from appliance.pipeline.finger_quality import shared_assessor

        sensor = self.device("fingerprint")
        if self._finger_quality is None:  # the model loads once, off the event loop
            self._finger_quality = await asyncio.to_thread(shared_assessor, self.cfg.finger)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def on_event(ev: dict[str, Any]) -> None:  # the capture thread
            msg = _finger_event(finger, ev)
            if msg is not None:
                loop.call_soon_threadsafe(update, msg)

        capture = FingerCapture(
            GatedSensor(sensor, cancel, self.finger_gate),
            self._finger_quality,
            [finger],
            max_attempts=self.cfg.finger.max_attempts,
            wait_timeout_s=self.cfg.finger.wait_timeout_s,
            on_event=on_event,
        )
        update({"phase": "place", "finger": finger})
        try:
            res = await self.call("fingerprint", capture.capture_finger, finger)
        finally:
            cancel.set()
            capture.cancel()
        png = await asyncio.to_thread(encode_png, res.image) if res.image is not None else None
        verdict = {"captured": "pass", "unavailable": "unavailable"}.get(res.status, "fail")
        last = res.attempts[-1].feedback if res.attempts else []
        score = None if res.best_score is None else round(res.best_score)
        return FingerResult(finger, png, score, verdict, list(last), len(res.attempts))

    # --- consent and store --------------------------------------------------------------------

    def consent_text(self, language: str, purposes: list[str]) -> ConsentText:
        from appliance.kiosk_ui.texts import consent_hash

        version = self.cfg.ui.consent_version
        return ConsentText(version, language, consent_hash(language, purposes, version))

    def save_problem(self) -> str | None:
        """Why no capture can be saved here (checked before a citizen starts), or None."""
        return save_problem(self.store())

    async def save_enrollment(self, enrollment: Enrollment) -> str:
        store = self.store()
        if store is None:
            raise StepError("save_failed", self.store_error or "no store", detail="store")
        try:
            return await asyncio.to_thread(_save, store, enrollment)
        except ApplianceError as exc:
            raise StepError("save_failed", exc.message, detail=exc.code) from exc

    async def list_captures(self) -> list[dict[str, Any]]:
        store = self.store()
        if store is None:
            raise StepError("not_available", self.store_error or "no store", detail="store")
        rows = await asyncio.to_thread(store.list_captures)
        return [
            {
                "time": _clock_time(r.get("time")),
                "masked_id": r.get("masked_id"),
                "receipt_code": r.get("receipt_code"),
                "uploaded": bool(r.get("uploaded")),
                "state": r.get("state"),
            }
            for r in rows
        ]

    async def send_now(self) -> dict[str, Any]:
        """The operator's "send now": every waiting bundle is due at once and the uploader is
        woken. ``upload``: whether this kiosk uploads at all (else ``appliance export``)."""
        store = self.store()
        if store is None:
            raise StepError("not_available", self.store_error or "no store", detail="store")
        upload = bool(self.cfg.store.upload_url)

        queued = await asyncio.to_thread(make_due_now, store, upload)
        log.info("operator asked to send now: %d bundle(s) waiting", queued)
        return {"queued": queued, "upload": upload}

    # --- gate ---------------------------------------------------------------------------------

    def attach_gate(self, gate: Any) -> None:
        """Show the decisions of ``gate`` (``appliance.pipeline.gate.Gate``), which owns the
        scanner, the indicators and the log in check-in mode."""
        self.gate = gate
        self._gate_events = gate.subscribe(16)

    async def gate_check(self) -> GateResult:
        if self._gate_events is None:
            raise StepError("not_available", "no gate in this mode", detail="gate")
        event = await self._gate_events.get()
        d = event.decision
        return GateResult(d.admitted, d.decision, d.reason, d.masked_id, event.count_today)

    def clock_status(self) -> dict[str, Any]:
        """Is the clock synchronised, and the time floor expiry is judged by without it."""
        return time_floor(self.cfg.state_dir).status()

    def gate_count(self) -> int:
        return int(self.gate.admitted_today()) if self.gate is not None else 0

    # --- operator -----------------------------------------------------------------------------

    def pin_configured(self) -> bool:
        return bool(operator_pin_hash(self.cfg))

    async def verify_pin(self, pin: str) -> bool:
        return await asyncio.to_thread(verify_pin, pin, operator_pin_hash(self.cfg))

    def lockout_path(self) -> Path:
        return Path(self.cfg.state_dir) / LOCKOUT_FILE

    async def withdraw_consent(self, receipt_code: str) -> dict[str, Any] | None:
        store = self.store()
        if store is None:
            raise StepError("save_failed", self.store_error or "no store", detail="store")
        try:
            return await asyncio.to_thread(withdraw_by_receipt, store, receipt_code, "operator")
        except ApplianceError as exc:
            raise StepError("save_failed", exc.message, detail=exc.code) from exc

    # --- indicators ---------------------------------------------------------------------------

    def indicate(self, what: str) -> None:
        ind = self.devices.get("indicators")
        if ind is None:
            return
        try:
            if what == "ok":
                ind.ok()
            elif what == "error":
                ind.error()
            elif what == "busy":
                ind.busy(True)
            elif what == "idle":
                ind.busy(False)
            elif what == "help":
                self._signal_help(ind)
        except Exception as exc:  # an indicator must never break a workflow
            log.warning("indicator %s failed: %s", what, exc)

    def _signal_help(self, ind: Any) -> None:
        """Call staff: the indicators' own staff call where the backend has one, else the busy
        LED blinks for ``help_signal_s``."""
        call_staff = getattr(ind, "call_staff", None)
        if callable(call_staff):
            call_staff()
            return
        ind.busy(True)
        loop = asyncio.get_running_loop()
        if self._help_timer is not None:
            self._help_timer.cancel()
        self._help_timer = loop.call_later(self.cfg.ui.help_signal_s, self.indicate, "idle")


# --- module calls (run in worker threads) -----------------------------------------------------


def _read_chip(
    cfg: Any,
    reader: Any,
    bac: tuple[str, str, str],
    report: Progress,
    stage_end: Progress | None = None,
) -> ChipResult:
    """Read and authenticate; ``report`` gets the share done, ``stage_end`` where the stage
    now running ends (for a bar that moves meanwhile)."""
    from appliance.icao.errors import BacFailed, NoCard, ReadError
    from appliance.icao.reader import read_card

    progress = stage_progress(report, stage_end)

    trust_dir = cfg.card_reader.trust_dir
    if trust_dir and not Path(trust_dir).is_dir():
        if not getattr(reader, "trust_store", None):
            log.warning("trust store %s missing: passive authentication cannot chain", trust_dir)
        trust_dir = None
    try:
        card = read_card(
            reader,
            bac,
            can=_can(bac),
            access=cfg.card_reader.access,
            pace_fallback=cfg.card_reader.pace_fallback,
            chip_auth=cfg.card_reader.chip_auth,
            trust_dir=trust_dir or None,
            max_file_bytes=cfg.card_reader.max_file_bytes,
            progress=progress,
            timeout_s=cfg.ui.chip_read_s,
        )
    except NoCard as exc:
        raise StepError("card_unreadable", exc.message, detail=exc.code) from exc
    except BacFailed as exc:
        raise StepError("wrong_key", exc.message, detail=exc.code) from exc
    except ReadError as exc:
        raise StepError("card_unreadable", exc.message, detail=exc.code) from exc
    fields = dict(card.dg13 or {})
    fields.pop("id_number", None)  # the screen shows the mask from the QR, never the number
    photo = None
    if card.face_image and card.passive_auth.data_groups.get("DG2") == "ok":
        try:  # decoded only once its SOD hash matched, and within the configured budget
            photo = to_jpeg(card.face_image, cfg.card_reader)
        except FaceImageError as exc:
            log.warning("chip photo not shown: %s", exc.message)
    elif card.face_image:
        log.warning("chip photo not shown: DG2 does not match EF.SOD")
    return ChipResult(
        fields,
        photo,
        card.passive_auth.status,
        card.clone_check,  # chip authentication when it ran (it supersedes active auth)
        card.passive_auth.failed_step,
        card.passive_auth.data_groups.get("DG2") == "ok",
        access_label(card),
    )
