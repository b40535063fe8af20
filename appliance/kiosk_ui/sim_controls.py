"""Demo controls that stand in for a citizen's hands, only when devices are simulated.

The kiosk page shows a small "Demo" panel with these actions when the hello message says
``"sim": true``; each is a ``{"type": "sim", "action": NAME}`` WebSocket message. None of them
exists on a kiosk with real devices (the server refuses them).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.errors import DeviceUnavailable
from appliance.hal.sim import SIM_DATA

log = logging.getLogger(__name__)

# A 2024-style QR: the old fields and the parents' names, so 9 fields: an "unknown layout" whose
# QR cannot give the chip key, which makes the verification ask for the dates on a keypad.
NEW_LAYOUT_QR = "|".join(
    [TEST_QR_PAYLOAD, str(TEST_CITIZEN["father_name"]), str(TEST_CITIZEN["mother_name"])]
)
BAD_QR = "https://example.com/not-a-card"
# what the demo's face controls put before the sim camera (tools/make_face_turning.py)
FACES = {
    "face_citizen": SIM_DATA / "turning" / "citizen",
    "face_other": SIM_DATA / "turning" / "other",
    "face_still": None,  # the configured source: the still portrait
}


EXPIRED_CARD_HOLDER = {
    **TEST_CITIZEN,
    "id_number": "079090004321",  # another person (Hồ Chí Minh City, male, born 1990)
    "full_name": "TRẦN VĂN BÌNH",
    "address": "Số 2 Đường A, Phường B, Quận 1, Thành phố Hồ Chí Minh",
    "issue_date": "2010-05-01",  # issued at 20: expired at 25, in 2015
}


def expired_qr() -> str:
    """The QR of a card that expired in 2015."""
    from appliance.cccd.qr import build_payload

    return build_payload(EXPIRED_CARD_HOLDER)


ACTIONS = (
    "qr",  # scan the test citizen's QR
    "qr_new_layout",  # scan a QR of the newer layout (keypad path)
    "qr_expired",  # scan an expired card's QR
    "qr_bad",  # scan a QR that is not a CCCD's
    "card_on",  # put the card on the reader
    "card_off",  # take it off
    "finger",  # put the finger on the sensor
    "face_citizen",  # the test citizen turning the head (live enough: the face check matches)
    "face_other",  # another person turning the head (the face check says no match)
    "face_still",  # back to the still portrait: a photo held up (fails the liveness challenge)
    "unplug_camera",  # unplug a device (it comes back at the next device check)
    "unplug_fingerprint",
    "unplug_card_reader",
    "unplug_qr_scanner",
)


class SimControls:
    def __init__(self, service: Any, adapters: Any) -> None:
        self.service = service
        self.adapters = adapters
        self.kinds = {k for k in service.devices.slots if adapters.is_sim(k)}
        self._finger = threading.Event()
        if "fingerprint" in self.kinds:
            adapters.finger_gate = self._finger

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    def available(self) -> list[str]:
        needs = {"qr": "qr_scanner", "card": "card_reader", "finger": "fingerprint",
                 "face": "camera"}  # fmt: skip
        out = []
        for action in ACTIONS:
            if action.startswith("unplug_"):
                kind = action[len("unplug_") :]
            else:
                kind = needs[action.split("_")[0]]
            if kind in self.kinds:
                out.append(action)
        return out

    def on_screen(self, msg: dict[str, Any]) -> None:
        """A verification starts with the card off the reader, as a citizen's would be."""
        if msg.get("type") == "screen" and msg.get("screen") in ("home", "verify.scan"):
            reader = self.service.devices.get("card_reader")
            if reader is not None and "card_reader" in self.kinds:
                reader.remove()

    def handle(self, action: Any) -> bool:
        """Perform one demo action; False when it is unknown or its device is not simulated."""
        if action not in self.available():
            return False
        log.info("demo action %s", action)
        devices = self.service.devices
        if action.startswith("qr"):
            payload = {
                "qr": TEST_QR_PAYLOAD,
                "qr_new_layout": NEW_LAYOUT_QR,
                "qr_bad": BAD_QR,
                "qr_expired": expired_qr(),
            }[action]
            scanner = devices.get("qr_scanner")
            if scanner is None:
                return False
            scanner.inject(payload.encode())
        elif action in ("card_on", "card_off"):
            reader = devices.get("card_reader")
            if reader is None:
                return False
            reader.insert() if action == "card_on" else reader.remove()
        elif action == "finger":
            self._finger.set()
        elif action.startswith("face_"):
            camera = devices.get("camera")
            if camera is None:
                return False
            camera.show(FACES[action])
        else:
            kind = action[len("unplug_") :]
            devices.report_failure(kind, DeviceUnavailable(f"simulated {kind} was unplugged"))
        return True
