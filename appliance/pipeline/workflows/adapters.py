"""What the workflows ask of the rest of the appliance: one small adapter call per step.

:class:`Adapters` is the contract; :mod:`appliance.pipeline.workflows.service_adapters` implements
it on the real service (devices, the card-data, chip, face, fingerprint, store and gate modules),
and the unit tests implement it with fakes. Adapters raise
:class:`~appliance.pipeline.workflows.engine.StepError` for anything the citizen must be told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Update = Callable[[dict[str, Any]], None]
Progress = Callable[[float], None]


@dataclass(slots=True)
class Identity:
    """Who the QR says the citizen is. ``id_number`` stays in the session; screens get the mask."""

    id_number: str
    masked_id: str
    layout: str
    full_name: str | None = None
    date_of_birth: str | None = None  # ISO
    sex: str | None = None
    expiry_date: str | None = None  # ISO, None = no expiry or unknown
    expired: bool | None = None
    bac: tuple[str, str, str] | None = None  # document number, DOB YYMMDD, expiry YYMMDD
    record: dict[str, Any] = field(default_factory=dict)  # the parsed QR, for the sealed record


@dataclass(slots=True)
class ChipResult:
    """What the chip said. ``passive``/``active`` are the chip module's status strings."""

    fields: dict[str, Any]  # dg13-style identity fields (ISO dates, sex male/female)
    photo_jpeg: bytes | None
    passive: str  # verified | chain_unknown | failed | not_checked
    active: str  # passed | failed | not_supported (chip authentication's, when it ran)
    failed_step: str | None = None
    dg2_hash_ok: bool = False  # DG2 (the photo) matched its hash in EF.SOD: it may be compared
    access: str | None = None  # how the chip was opened, for staff: "PACE (P-256, AES-128)"


@dataclass(slots=True)
class FaceResult:
    portrait_jpeg: bytes
    assessment: dict[str, Any]  # FaceAssessment.to_dict() of the kept frame


@dataclass(slots=True)
class FingerResult:
    finger: str
    image_png: bytes | None  # None when the finger was marked unavailable
    score: int | None
    verdict: str  # pass | fail | unavailable
    feedback: list[str] = field(default_factory=list)
    attempts: int = 1


@dataclass(slots=True)
class ConsentText:
    version: str
    language: str
    sha256: str  # of the exact text shown (intro + each purpose), canonical JSON


@dataclass(slots=True)
class Consent:
    purposes: list[str]
    text: ConsentText
    given_at: float  # time.time() when the citizen agreed


@dataclass(slots=True)
class Enrollment:
    """Everything one enrollment session collected, handed to the store in one call."""

    identity: Identity
    consent: Consent
    portrait: FaceResult | None = None
    fingers: list[FingerResult] = field(default_factory=list)
    operator: bool = False


@dataclass(slots=True)
class GateResult:
    """One check-in decision, as the screen shows it: no personal data beyond the mask."""

    admitted: bool
    decision: str  # admit | expired | invalid | duplicate | unknown_layout
    reason: str | None  # a short reason code (QrError.code, "expired" ...)
    masked_id: str | None
    count_today: int


class Adapters(Protocol):
    """The steps. Async calls may be cancelled at any time by a timeout or the citizen."""

    async def scan_qr(self, ready: Callable[[], None]) -> bytes:
        """The next QR payload scanned after ``ready()`` is called (the adapter calls it, to show
        the "scan now" screen, once payloads scanned earlier have been discarded)."""

    def identify(self, payload: bytes) -> Identity:
        """Parse a QR payload (StepError invalid_qr when it is not a CCCD QR)."""

    def bac_from_dates(self, id_number: str, dob: str, expiry: str | None) -> tuple[str, str, str]:
        """The chip key fields from the ID and typed ISO dates (expiry None: no expiry)."""

    async def wait_card(self) -> None:
        """Return once a card is on the reader."""

    async def read_chip(self, bac: tuple[str, str, str], progress: Progress) -> ChipResult:
        """Read and authenticate the chip; ``progress`` gets 0..1."""

    async def capture_face(self, update: Update) -> FaceResult:
        """Live capture; ``update`` gets guidance dicts; the preview runs meanwhile."""

    async def verify_face(self, photo: bytes, challenge: str, update: Update) -> dict[str, Any]:
        """Liveness ``challenge`` then the live face against the chip ``photo``; returns only
        ``decision``, ``score_band``, ``challenge``, ``liveness`` (face_verify.VerifyOutcome)."""

    async def capture_finger(self, finger: str, update: Update) -> FingerResult:
        """Capture one finger with its attempts; ``update`` gets phase/feedback dicts."""

    def consent_text(self, language: str, purposes: list[str]) -> ConsentText:
        """Version and hash of the consent text shown in ``language``."""

    async def save_enrollment(self, enrollment: Enrollment) -> str:
        """Seal and save; return the receipt code once it is durable."""

    async def gate_check(self) -> GateResult:
        """Wait for the next check-in decision at the gate."""

    def gate_count(self) -> int:
        """Check-ins admitted today."""

    async def list_captures(self) -> list[dict[str, Any]]:
        """Today's captures: time, masked_id, receipt_code, uploaded (bool)."""

    async def verify_pin(self, pin: str) -> bool:
        """Whether ``pin`` is the operator PIN (a deliberately slow hash: off the event loop)."""

    def pin_configured(self) -> bool:
        """Whether an operator PIN has been provisioned."""

    async def withdraw_consent(self, receipt_code: str) -> dict[str, Any] | None:
        """Withdraw the consent of the capture with ``receipt_code``; None if there is none.
        Returns ``{receipt_code, withdrawn_at, captures, deleted_unsent, already_delivered,
        already_withdrawn}``."""

    def indicate(self, what: str) -> None:
        """Drive the indicators: ok, error, busy, idle (never raises)."""
