"""The simulated card reader: the in-process CCCD chip emulator personalised with the test
citizen."""

from __future__ import annotations

import functools
import threading
import time

from appliance.citizen import TEST_CITIZEN
from appliance.hal.base import CardReader
from appliance.hal.sim import IMAGE_SUFFIXES, SIM_DATA, SimFaults
from appliance.hal.sim_camera import synthetic_portrait


def sim_portrait_jpeg() -> bytes:
    """The test citizen's face for the sim chip's DG2: ``sim_data/citizen_portrait.jpg`` as it
    is, else the sim camera's portrait re-encoded, else the synthetic portrait."""
    import io

    from PIL import Image

    portrait = SIM_DATA / "citizen_portrait.jpg"
    if portrait.is_file():
        data = portrait.read_bytes()
        if data.startswith(b"\xff\xd8\xff"):
            return data
    camera = SIM_DATA / "camera"
    candidates = sorted(camera.iterdir()) if camera.is_dir() else []
    for path in (p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                img.thumbnail((360, 480))
                out = io.BytesIO()
                img.save(out, "JPEG", quality=85)
                return out.getvalue()
        except OSError:
            continue
    out = io.BytesIO()
    Image.fromarray(synthetic_portrait(360, 480)).save(out, "JPEG", quality=90)
    return out.getvalue()


@functools.cache
def _sim_pki():
    from appliance.icao.pki import generate_pki

    return generate_pki()


@functools.cache
def sim_chip(ca: bool = False):
    """(chip image, trust store) of the built-in test citizen, made once per process: a test
    CSCA (EC with explicit curve parameters) and DS, RSA active authentication; ``ca``: with
    chip authentication in DG14 (another image, the same test PKI)."""
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore
    from appliance.icao.personalise import personalise

    pki = _sim_pki()
    image = personalise(TEST_CITIZEN, sim_portrait_jpeg(), pki, aa="rsa", ca=ca)
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)], "built-in test CSCA")
    return image, trust


class SimCardReader(SimFaults, CardReader):
    """A reader on which the test citizen's chip (an in-process
    :class:`~appliance.icao.emulator.CardEmulator`) is put ``sim_insert_after_s`` after opening.

    ``insert()`` and ``remove()`` let tests and the demo move the card by hand; ``insert(emu)``
    puts another emulated chip on the reader. ``trust_store`` holds the chip's test CSCA.
    Config: ``sim_card_fault`` (an emulator fault mode), ``sim_max_le`` (refuse larger Le).
    """

    backend = "sim"
    supports_extended_length = True

    def __init__(self, cfg, emulator=None, trust_store=None) -> None:
        super().__init__(cfg)
        self._present = threading.Event()
        self._timer: threading.Timer | None = None
        self.emulator = emulator
        self.trust_store = trust_store

    def open(self) -> None:
        self._open_or_fail()
        if self.emulator is None:
            from appliance.icao.emulator import CardEmulator

            access = getattr(self.cfg, "sim_card_access", "bac") or "bac"
            ca = bool(getattr(self.cfg, "sim_card_ca", False))
            image, trust = sim_chip(ca=ca)
            self.emulator = CardEmulator(
                image,
                fault=getattr(self.cfg, "sim_card_fault", ""),
                max_le=getattr(self.cfg, "sim_max_le", 0) or None,
                access=access,
            )
            self.trust_store = self.trust_store or trust
        self._timer = threading.Timer(self.cfg.sim_insert_after_s, self.insert)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        super().close()

    def location(self) -> str:
        return "Simulated CCCD reader"

    def insert(self, emulator=None) -> None:
        if emulator is not None:
            self.emulator = emulator
        if self.emulator is not None:
            self.emulator.reset()
        self._present.set()

    def remove(self) -> None:
        self._present.clear()

    def card_present(self) -> bool:
        return self._present.is_set()

    def wait_card(self, timeout: float) -> bytes | None:
        self._require_open()
        self._maybe_timeout("card reader", timeout)
        if self._present.wait(timeout) and self.emulator is not None:
            return self.emulator.atr
        return None

    def wait_event(self, timeout: float, present: bool | None = None) -> str | None:
        """``inserted`` or ``removed`` when the card's presence changes from ``present`` (default:
        now) within ``timeout``, else None."""
        self._require_open()
        start = self.card_present() if present is None else present
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.card_present() != start:
                return "removed" if start else "inserted"
            time.sleep(0.02)
        return None

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        from appliance.icao.errors import NoCard

        self._require_open()
        if not self._present.is_set() or self.emulator is None:
            raise NoCard("no card on the reader")
        self._maybe_timeout("card", 1.0)
        return self.emulator.transmit(apdu)

    def abort_transmit(self) -> None:
        """A command was abandoned (stalled chip): power-cycle the emulated chip once it is idle."""
        if self.emulator is not None:
            self.emulator.reset_when_idle()

    def probe(self) -> str:
        self._maybe_timeout("card reader", 1.0)
        return f"reader present, card {'on' if self.card_present() else 'not on'} the reader"
