"""The tourist-site gate: scan -> parse and check -> decide -> indicators -> log.

Decisions (``[gate]`` in the config holds the policies):

* ``admit``: a valid card; green LED and a bounded relay pulse.
* ``expired``: the card is past its expiry date; ``expired = "admit"|"refuse"``.
* ``invalid``: not a CCCD QR or a damaged one; the reason is the error code (``malformed``,
  ``bad_id_number``, ``id_mismatch``...).
* ``duplicate``: the same card was admitted within ``duplicate_window_s``.
* ``unknown_layout``: a newer card whose QR layout is not known yet; ``unknown_layout =
  "admit"|"refuse"`` (admit by default), counted apart so the layout can be learnt.

``reason`` says why: the error code, ``policy_admit``/``policy_refuse`` for the two policies,
``seen_recently`` for a duplicate, ``clock_unsynced`` when expiry could not be judged because the
clock is not synchronised (the card is admitted: a Pi without a real-time clock must not refuse
everyone). Without a synchronised clock a card whose expiry is before the time floor
(:mod:`appliance.timefloor`: the last synchronised day, the build date, issue dates seen) is
``expired`` all the same.

Privacy: the log row holds time, decision, reason, age band, sex and the 3-digit
birth-registration code, nothing else. Duplicate detection keeps an HMAC-SHA256 of the ID number
under a random key that lives in this process's memory only, so nothing on the device can be
brute-forced back to an ID number. With ``seal_records = true`` the full record is sealed to the
office key (the store's sealing): only the office can read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from appliance.cccd.errors import QrError
from appliance.cccd.ids import IdNumber, mask_id
from appliance.cccd.qr import LAYOUT_UNKNOWN, QrResult, parse_qr
from appliance.clock import clock_synchronized
from appliance.config import Config, GateConfig
from appliance.errors import ApplianceError, DeviceError
from appliance.pipeline.gate_chip import CHIP_REFUSED, confirm_with_chip
from appliance.pipeline.qr_decode import QrDecodeError, payload_text
from appliance.pipeline.qr_frames import Deduper
from appliance.store.privacy import age_band
from appliance.timefloor import TimeFloor, time_floor

log = logging.getLogger(__name__)

DECISIONS = ("admit", "expired", "invalid", "duplicate", "unknown_layout", CHIP_REFUSED)
POLICY_ADMIT, POLICY_REFUSE = "policy_admit", "policy_refuse"
FAR_FUTURE = date(9999, 12, 31)  # "today" for validation while the clock cannot be trusted


def is_admitted(decision: str, reason: str | None) -> bool:
    """Whether a logged decision opened the gate."""
    return decision == "admit" or (
        decision in ("expired", "unknown_layout") and reason == POLICY_ADMIT
    )


@dataclass(frozen=True)
class Decision:
    """One check-in decision. ``record`` (the parsed QR) is only for sealing, never logged."""

    decision: str
    admitted: bool
    reason: str | None = None
    age_band: str | None = None
    sex: str | None = None
    birth_code: str | None = None
    masked_id: str | None = None
    layout: str | None = None
    record: dict[str, Any] | None = field(default=None, repr=False)
    qr: QrResult | None = field(default=None, repr=False, compare=False)  # memory only

    def to_dict(self) -> dict[str, Any]:
        """What a screen may show: no name, no address, no full ID number."""
        return {
            "decision": self.decision,
            "admitted": self.admitted,
            "reason": self.reason,
            "age_band": self.age_band,
            "sex": self.sex,
            "birth_code": self.birth_code,
            "masked_id": self.masked_id,
            "layout": self.layout,
        }


class GateDecider:
    """Turns a scanned payload into a :class:`Decision`; remembers admitted cards (keyed hash).

    ``clock_ok`` says whether today's date can be trusted (default: the system clock is
    synchronised); ``monotonic`` is the time source of the duplicate window.
    """

    def __init__(
        self,
        cfg: GateConfig,
        *,
        key: bytes | None = None,
        clock_ok: Callable[[], bool] = clock_synchronized,
        monotonic: Callable[[], float] = time.monotonic,
        floor: TimeFloor | None = None,
    ) -> None:
        self.cfg = cfg
        # expiry on an unsynchronised clock is judged against this floor (appliance.timefloor)
        self.floor = floor or TimeFloor(None, synced=clock_ok)
        self._key = key or secrets.token_bytes(32)  # memory only: never stored, never logged
        self._clock_ok = clock_ok
        self._monotonic = monotonic
        self._admitted: dict[bytes, float] = {}
        self._next_prune = 0.0
        self._clock_state = (False, -1e9)  # (synchronised, when asked): asked every 30 s at most

    def card_key(self, id_number: str) -> bytes:
        """The keyed hash that stands for a card in memory."""
        return hmac.new(self._key, id_number.encode(), hashlib.sha256).digest()[:16]

    def clock_ok(self, now: float) -> bool:
        """Whether today's date can be trusted (cached: the check costs milliseconds)."""
        ok, asked = self._clock_state
        if now - asked >= 30.0 or now < asked:
            ok = bool(self._clock_ok())
            self._clock_state = (ok, now)
        return ok

    def forget(self, id_number: str) -> None:
        """Not admitted after all (the chip policy refused): not a duplicate next time."""
        self._admitted.pop(self.card_key(id_number), None)

    def remembered(self) -> int:
        """Cards admitted within the duplicate window (entries held in memory)."""
        return len(self._admitted)

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        cutoff = now - self.cfg.duplicate_window_s
        self._admitted = {k: t for k, t in self._admitted.items() if t > cutoff}
        self._next_prune = now + min(60.0, max(1.0, self.cfg.duplicate_window_s / 10))

    def decide(
        self, payload: bytes | str, *, now: float | None = None, today: date | None = None
    ) -> Decision:
        now = self._monotonic() if now is None else now
        self._prune(now)
        clock_ok = self.clock_ok(now)
        today = today or date.today()
        try:
            raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            text = payload_text(raw)
            result = parse_qr(text, today=today if clock_ok else FAR_FUTURE)
        except (QrDecodeError, QrError) as exc:
            return Decision("invalid", False, exc.code)
        ident = IdNumber(result.id_number)
        if result.layout == LAYOUT_UNKNOWN:
            # The layout is unknown: the birth year from the ID number, so the band is approximate.
            band = age_band(date(ident.birth_year, 7, 1), today)
            sex = ident.sex
        else:
            band = age_band(result.date_of_birth, today) if result.date_of_birth else None
            sex = result.sex
        facts = {
            "age_band": band,
            "sex": sex,
            "birth_code": result.birth_registration.code,
            "masked_id": mask_id(result.id_number),
            "layout": result.layout,
            "record": _record(result, text) if self.cfg.seal_records else None,
            "qr": result,
        }
        key = self.card_key(result.id_number)
        last = self._admitted.get(key)
        if last is not None and now - last < self.cfg.duplicate_window_s:
            return Decision("duplicate", False, "seen_recently", **facts)
        if result.layout == LAYOUT_UNKNOWN:
            admitted = self.cfg.unknown_layout == "admit"
            decision = Decision("unknown_layout", admitted, _policy(admitted), **facts)
        elif self._expired(result, clock_ok, today):
            admitted = self.cfg.expired == "admit"
            decision = Decision("expired", admitted, _policy(admitted), **facts)
        else:
            unsure = not clock_ok and result.expiry_date is not None
            decision = Decision("admit", True, "clock_unsynced" if unsure else None, **facts)
        if decision.admitted and self.cfg.duplicate_window_s > 0:
            self._admitted[key] = now
        self.floor.saw_card(key.hex(), result.issue_date)
        return decision

    def _expired(self, result: QrResult, clock_ok: bool, today: date) -> bool:
        """Expired by the synchronised clock or, without one, before the time floor: a card
        that expired in 2015 is refused even on a Pi that woke up in 1970."""
        if clock_ok:
            self.floor.note_clock(today)
            return bool(result.expired)
        return result.expiry_date is not None and result.expiry_date < self.floor.floor()


def _policy(admitted: bool) -> str:
    return POLICY_ADMIT if admitted else POLICY_REFUSE


def _record(result: QrResult, text: str) -> dict[str, Any]:
    """What is sealed: the parsed QR; for an unknown layout also the text, to learn it from."""
    record = result.to_dict()
    record.pop("ok", None)
    if result.layout == LAYOUT_UNKNOWN:
        record["payload"] = text
    return record


# --- the running gate ------------------------------------------------------------------------


@dataclass
class GateEvent:
    """A decision as published to screens: the decision, the day's count, the latency."""

    decision: Decision
    count_today: int
    latency_ms: float
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.decision.to_dict(),
            "count_today": self.count_today,
            "latency_ms": round(self.latency_ms, 2),
            "at": self.at,
        }


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by nearest rank, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class Gate:
    """The check-in loop's state: decider, indicators, log, counters, subscribers."""

    def __init__(self, cfg: Config, store: Any = None, decider: GateDecider | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.decider = decider or GateDecider(cfg.gate, floor=time_floor(cfg.state_dir))
        self.dedupe = Deduper(cfg.qr_scanner.dedupe_s)
        self.latencies: deque[float] = deque(maxlen=2000)
        self.counts: Counter[str] = Counter()
        self.admitted_count = 0
        self._day = date.today()
        self._subscribers: list[asyncio.Queue[GateEvent]] = []
        self.repeats_dropped = 0  # the same payload again within dedupe_s: one scan
        self.stopped = False
        self.camera: Any = None  # with [gate] face_check: the camera, set by run()
        self.log_errors = 0
        self.last_error: str | None = None

    # --- for screens (appliance.pipeline.workflows) ------------------------------------------

    def subscribe(self, maxsize: int = 16) -> asyncio.Queue[GateEvent]:
        """A queue receiving every decision from now on (oldest dropped when full)."""
        queue: asyncio.Queue[GateEvent] = asyncio.Queue(maxsize)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[GateEvent]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    async def next_event(self) -> GateEvent:
        """Wait for the next decision."""
        queue = self.subscribe(1)
        try:
            return await queue.get()
        finally:
            self.unsubscribe(queue)

    def admitted_today(self) -> int:
        self._roll_day()
        return self.admitted_count

    # --- counting ----------------------------------------------------------------------------

    def _roll_day(self) -> None:
        today = date.today()
        if today != self._day:
            self._day = today
            self.counts.clear()
            self.admitted_count = 0

    def load_counts(self) -> None:
        """Start today's counters from the log (a restart keeps the day's figures)."""
        if self.store is None:
            return
        try:
            rows = self.store.checkins(date.today())
        except ApplianceError as exc:
            log.warning("cannot read today's check-ins: %s", exc.message)
            return
        self._day = date.today()
        self.counts = Counter(r["decision"] for r in rows)
        self.admitted_count = sum(is_admitted(r["decision"], r["reason"]) for r in rows)

    def health(self) -> dict[str, Any]:
        lat = list(self.latencies)
        return {
            "counts_today": dict(self.counts),
            "admitted_today": self.admitted_count,
            "latency_ms_p50": _round(percentile(lat, 0.5)),
            "latency_ms_p99": _round(percentile(lat, 0.99)),
            "remembered_cards": self.decider.remembered(),
            "repeats_dropped": self.repeats_dropped,
            "log_errors": self.log_errors,
            "last_error": self.last_error,
            "clock": self.decider.floor.status(),  # synchronised? the time floor expiry uses
        }

    # --- one scan ----------------------------------------------------------------------------

    def actuate(self, decision: Decision, indicators: Any) -> float:
        """Relay first (it is what the visitor waits for), then the lights and the buzzer.

        Returns when the relay went on (admit) or the refusal was signalled (perf_counter).
        """
        at = time.perf_counter()
        if indicators is None:
            return at
        try:
            if decision.admitted:
                indicators.open_gate(self.cfg.gate.relay_pulse_ms)
                at = time.perf_counter()
                indicators.ok()
            else:
                indicators.error()
                at = time.perf_counter()
        except Exception as exc:  # an indicator fault must not stop the gate
            log.warning("indicators failed: %s", exc)
        return at

    def process(
        self, payload: bytes, scanned_at: float, indicators: Any, reader: Any = None
    ) -> tuple[Decision, float] | None:
        """Decide and actuate at once; (decision, latency ms), or None for a repeated payload.

        The loop runs this in the scanner's worker thread right after the read, so nothing waits
        between the scan and the relay (not even the event loop).
        """
        if self.dedupe.is_repeat(payload):
            self.repeats_dropped += 1
            return None
        decision = self.decider.decide(payload)
        if decision.admitted and self.cfg.gate.assurance == "chip":
            decision = confirm_with_chip(decision, reader, self.cfg, self.camera)
            if not decision.admitted and decision.qr is not None:
                self.decider.forget(decision.qr.id_number)
        if self.stopped:  # a read that ended after the gate stopped must not open it
            return None
        return decision, (self.actuate(decision, indicators) - scanned_at) * 1000

    async def record(self, decision: Decision, latency_ms: float) -> GateEvent:
        """Count, publish to the screens and log one decision."""
        self.latencies.append(latency_ms)
        self._roll_day()
        self.counts[decision.decision] += 1
        self.admitted_count += decision.admitted
        at = datetime.now().astimezone().isoformat(timespec="milliseconds")
        event = GateEvent(decision, self.admitted_count, latency_ms, at)
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        log.info(
            "check-in %s reason=%s age_band=%s sex=%s birth_code=%s latency=%.1fms",
            decision.decision,
            decision.reason,
            decision.age_band,
            decision.sex,
            decision.birth_code,
            latency_ms,
        )
        if self.store is not None:
            await asyncio.to_thread(self._log, decision)
        return event

    async def handle(
        self,
        payload: bytes,
        scanned_at: float | None = None,
        indicators: Any = None,
        reader: Any = None,
    ) -> GateEvent | None:
        """Decide, actuate, publish and log one scanned payload (None: a repeat, dropped)."""
        scanned_at = time.perf_counter() if scanned_at is None else scanned_at
        done = await asyncio.to_thread(self.process, payload, scanned_at, indicators, reader)
        return None if done is None else await self.record(*done)

    def _scan(self, scanner: Any, indicators: Any, reader: Any) -> tuple[Decision, float] | None:
        payload = scanner.read(0.5)
        if payload is None:
            return None
        return self.process(payload, time.perf_counter(), indicators, reader)

    def _log(self, d: Decision) -> None:
        args = (d.decision, d.reason, d.age_band, d.sex, d.birth_code)
        try:
            try:
                self.store.add_checkin(*args, sealed_record=d.record)
            except ApplianceError as exc:
                if d.record is None or exc.code != "office_key_missing":
                    raise
                # The row is still worth keeping; the missing key shows in health and the log.
                self.store.add_checkin(*args)
                raise
        except ApplianceError as exc:
            self.log_errors += 1
            self.last_error = exc.message
            log.error("check-in log: %s", exc.message)

    # --- the loop ----------------------------------------------------------------------------

    async def run(self, service: Any, stop: asyncio.Event) -> None:
        """Read the scanner until ``stop``; the relay is released on entry and on any exit."""
        self.stopped = False
        _release(service)
        self.load_counts()
        try:
            while not stop.is_set():
                scanner = service.devices.get("qr_scanner")
                if scanner is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)
                    continue
                try:
                    indicators = service.devices.get("indicators")
                    reader = service.devices.get("card_reader")
                    self.camera = service.devices.get("camera")  # only [gate] face_check uses it
                    done = await asyncio.to_thread(self._scan, scanner, indicators, reader)
                except DeviceError as exc:
                    log.warning("QR scanner: %s", exc.message)
                    service.devices.report_failure("qr_scanner", exc)
                    continue
                except Exception:  # a scanner or decision bug must not end the gate
                    log.exception("scan failed")
                    _release(service)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                    continue
                if done is None:
                    continue
                try:
                    await self.record(*done)
                except Exception:  # one bad scan must not stop the gate
                    log.exception("check-in failed")
                    _release(service)
        finally:
            self.stopped = True
            _release(service)


def _release(service: Any) -> None:
    indicators = service.devices.get("indicators")
    if indicators is not None:
        try:
            indicators.release()
        except Exception as exc:
            log.warning("cannot release the indicators: %s", exc)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def gate_for(service: Any) -> Gate:
    """The service's gate (``service.gate``), made on first use with its health entry.

    Uses ``service.store`` when the store is attached, else opens the store itself.
    """
    gate = getattr(service, "gate", None)
    if gate is None:
        store = getattr(service, "store", None)
        if store is None:
            from appliance.store import Store

            store = Store.open(service.cfg)
        gate = Gate(service.cfg, store)
        service.gate = gate
        service.extra_health["gate"] = gate.health
    return gate


async def run_gate(service: Any, stop: asyncio.Event) -> None:
    """The service component for mode ``checkin``: ``service.components.append(run_gate)``."""
    await gate_for(service).run(service, stop)


def attach_to_service(service: Any) -> Gate:
    """Make the gate now (so screens can subscribe before the service starts) and add
    :func:`run_gate` to the service's components (once: the kiosk UI may have done both)."""
    gate = gate_for(service)
    if run_gate not in service.components:
        service.components.append(run_gate)
    return gate
