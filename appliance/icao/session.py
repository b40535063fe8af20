"""One card session: plain APDUs until BAC or PACE, then everything through secure messaging.

:meth:`CardSession.recover` rebuilds the session the way it was first established (BAC, or PACE
then the applet), e.g. after a command whose fate is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.cccd.bac import BacKeys
from appliance.icao.apdu import Command, Transport
from appliance.icao.errors import ReadError, status_error
from appliance.icao.lds import AID_EMRTD
from appliance.icao.pace import KeyGen, PaceInfo, perform_pace, random_scalar
from appliance.icao.sm import SecureMessaging, perform_bac

log = logging.getLogger(__name__)


class CardSession:
    """Sends commands to the chip, protected once :meth:`authenticate` has run."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.sm: SecureMessaging | None = None
        self._keys: BacKeys | None = None
        self._rng: Callable[[int], bytes] | None = None
        self._establish: Callable[[], None] | None = None

    def send(self, cmd: Command, extended: bool = False) -> tuple[bytes, int]:
        """(response data, status word); under secure messaging both are checked and decrypted."""
        if self.sm is None:
            return self.transport.transmit(cmd.encode(extended or None))
        if self.sm.last_plain and self._establish is not None:
            self.recover()  # after a bare status word the counters may disagree: start afresh
        data, sw = self.transport.transmit(self.sm.wrap(cmd, extended))
        return self.sm.unwrap(data, sw)

    def select_applet(self) -> None:
        _, sw = self.send(Command(0x00, 0xA4, 0x04, 0x0C, AID_EMRTD))
        if sw != 0x9000:
            raise ReadError(status_error("this card has no ICAO eMRTD application", sw).message)

    def authenticate(self, keys: BacKeys, rng: Callable[[int], bytes] | None = None) -> None:
        """Basic access control; afterwards every command is protected."""
        self._keys, self._rng = keys, rng
        self.sm = None
        kwargs = {"rng": rng} if rng is not None else {}
        self.sm = perform_bac(lambda raw: self.transport.transmit(raw), keys, **kwargs)

        def again() -> None:
            self.select_applet()
            self.authenticate(keys, rng)

        self._establish = again

    def pace(
        self,
        info: PaceInfo,
        password: bytes,
        password_ref: int,
        *,
        several_offered: bool = False,
        keygen: KeyGen = random_scalar,
    ) -> None:
        """PACE at MF level, then the eMRTD applet under the new secure messaging."""
        self.sm = None
        self.sm = perform_pace(
            lambda cmd: self.transport.transmit(cmd.encode()),
            info,
            password,
            password_ref,
            several_offered=several_offered,
            keygen=keygen,
        )
        self.select_applet()

        def again() -> None:
            self.pace(info, password, password_ref, several_offered=several_offered)

        self._establish = again

    def recover(self) -> None:
        """Start a fresh session (after a command whose fate is unknown, e.g. an extended APDU
        the reader could not carry: the send sequence counters may disagree)."""
        if self._establish is None:
            raise ReadError("no session to recover")
        log.info("re-establishing the secure messaging session")
        self.sm = None
        self._establish()
