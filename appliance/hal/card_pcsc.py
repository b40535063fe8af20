"""The ``pcsc`` card reader backend: any PC/SC contactless reader through pcscd and pyscard.

The reader is chosen by ``card_reader.reader``: a case-insensitive substring of its PC/SC name
(or a glob pattern with ``*``/``?``); empty picks the first reader whose name suggests a
contactless interface, else the first reader. A card on the reader is connected on demand; its
removal surfaces as :class:`~appliance.icao.errors.NoCard`. A reader that is unplugged (or a
pcscd that restarts) is found again by :meth:`wait_card` and by the device manager's reopen.

Extended length (``card_reader.extended_length``): ``on``, ``off``, or ``auto`` (the reader's
PC/SC part 10 ``dwMaxAPDUDataSize`` property when it reports one, else off).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time

from smartcard import scard

from appliance.errors import ConfigError, DeviceError, DeviceUnavailable, ProtocolError
from appliance.hal.base import CardReader
from appliance.icao.errors import NoCard

log = logging.getLogger(__name__)

GONE = (
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_INVALID_HANDLE,
)
CARD_GONE = (scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD)
CONTACTLESS_HINTS = ("contactless", "picc", " cl ", "nfc", "acr122", "acr1252", "5022")
FEATURE_GET_TLV_PROPERTIES = 0x12
PROPERTY_MAX_APDU_DATA = 0x0A
SLICE_MS = 500


def _error(hr: int) -> str:
    return scard.SCardGetErrorMessage(hr).strip()


class PcscCardReader(CardReader):
    backend = "pcsc"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._ctx = None
        self._card = None
        self._protocol = None
        self._atr: bytes | None = None
        self.reader_name: str | None = None
        if cfg.extended_length not in ("auto", "on", "off"):
            raise ConfigError("must be auto, on or off", key="card_reader.extended_length")
        self.supports_extended_length = cfg.extended_length == "on"

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        self.close()
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            raise DeviceUnavailable(f"pcscd is not reachable: {_error(hr)}")
        self._ctx = ctx
        try:
            self.reader_name = self._find_reader()
        except DeviceUnavailable:
            self.close()
            raise
        self.is_open = True
        log.info("PC/SC reader %r", self.reader_name)

    def close(self) -> None:
        self._disconnect()
        if self._ctx is not None:
            scard.SCardReleaseContext(self._ctx)
            self._ctx = None
        super().close()

    def location(self) -> str:
        return self.reader_name or (self.cfg.reader or "first PC/SC reader")

    def check(self) -> None:
        self._require_open()
        if self.reader_name not in self._readers():
            raise DeviceUnavailable(f"PC/SC reader {self.reader_name!r} was unplugged")

    def probe(self) -> str:
        readers = self._readers()
        card = "on" if self.card_present() else "not on"
        return f"{self.reader_name} ({len(readers)} reader(s)); card {card} it"

    def fix_hint(self, exc: Exception) -> str | None:
        text = str(exc)
        if "pcscd" in text or "service" in text.lower():
            return "start the PC/SC daemon: systemctl enable --now pcscd.socket"
        if "matching" in text or "unplugged" in text:
            return (
                "plug the reader in (check `pcsc_scan`), and set card_reader.reader to part of "
                "its name"
            )
        return None

    # --- readers ------------------------------------------------------------------------------

    def _readers(self) -> list[str]:
        hr, readers = scard.SCardListReaders(self._ctx, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != scard.SCARD_S_SUCCESS:
            raise DeviceUnavailable(f"cannot list PC/SC readers: {_error(hr)}")
        return list(readers)

    def _find_reader(self) -> str:
        readers = self._readers()
        pattern = (self.cfg.reader or "").strip()
        if pattern:
            if any(c in pattern for c in "*?["):
                found = [r for r in readers if fnmatch.fnmatch(r.lower(), pattern.lower())]
            else:
                found = [r for r in readers if pattern.lower() in r.lower()]
        else:
            found = [r for r in readers if any(h in f" {r.lower()} " for h in CONTACTLESS_HINTS)]
            found = found or readers
        if not found:
            seen = ", ".join(readers) or "none"
            raise DeviceUnavailable(f"no PC/SC reader matching {pattern!r} (readers: {seen})")
        return found[0]

    def _reconnect_context(self) -> bool:
        """After pcscd went away or the reader was unplugged: find it again (False if not yet)."""
        self._disconnect()
        if self._ctx is not None:
            scard.SCardReleaseContext(self._ctx)
            self._ctx = None
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return False
        self._ctx = ctx
        try:
            self.reader_name = self._find_reader()
        except DeviceUnavailable:
            return False
        log.info("PC/SC reader %r is back", self.reader_name)
        return True

    # --- card presence ------------------------------------------------------------------------

    def _status(self, timeout_ms: int, current: int) -> tuple[int, int, bytes]:
        hr, states = scard.SCardGetStatusChange(
            self._ctx, timeout_ms, [(self.reader_name, current)]
        )
        if hr == scard.SCARD_E_TIMEOUT:
            return hr, current, b""
        if hr != scard.SCARD_S_SUCCESS:
            return hr, 0, b""
        _, event, atr = states[0]
        return hr, event, bytes(atr)

    @staticmethod
    def _has_card(event: int) -> bool:
        return bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE

    def card_present(self) -> bool:
        self._require_open()
        hr, event, _ = self._status(0, scard.SCARD_STATE_UNAWARE)
        return hr == scard.SCARD_S_SUCCESS and self._has_card(event)

    def _wait_change(self, deadline: float, current: int) -> int | None:
        """Block until the reader state differs from ``current`` (UNAWARE: the state now); the
        new state, or None at the deadline. Survives an unplugged reader and a pcscd restart."""
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hr, event, _ = self._status(min(SLICE_MS, remaining_ms), current)
            gone = hr in GONE or (
                hr == scard.SCARD_S_SUCCESS
                and event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE)
            )
            if gone:
                log.info("PC/SC reader %r went away: waiting for it", self.reader_name)
                while not self._reconnect_context():
                    if time.monotonic() >= deadline:
                        return None
                    time.sleep(0.2)
                current = scard.SCARD_STATE_UNAWARE
                continue
            if hr == scard.SCARD_S_SUCCESS and (
                event & scard.SCARD_STATE_CHANGED or current == scard.SCARD_STATE_UNAWARE
            ):
                return event & ~scard.SCARD_STATE_CHANGED
            if hr not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
                raise DeviceError(f"PC/SC status failed: {_error(hr)}")
            if time.monotonic() >= deadline:
                return None

    def wait_card(self, timeout: float) -> bytes | None:
        self._require_open()
        if self._card is not None:
            hr, *_ = scard.SCardStatus(self._card)
            if hr == scard.SCARD_S_SUCCESS and self._atr:
                return self._atr
            self._disconnect()
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            event = self._wait_change(deadline, state)
            if event is None:
                return None
            if self._has_card(event) and self._connect():
                return self._atr
            if time.monotonic() >= deadline:
                return None
            state = event

    def wait_event(self, timeout: float, present: bool | None = None) -> str | None:
        """``inserted`` or ``removed`` when the card's presence changes from ``present``
        (default: now) within ``timeout``, else None."""
        self._require_open()
        start = self.card_present() if present is None else present
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            event = self._wait_change(deadline, state)
            if event is None:
                return None
            if self._has_card(event) != start:
                if start:
                    self._disconnect()
                return "removed" if start else "inserted"
            state = event

    # --- the card -----------------------------------------------------------------------------

    def _connect(self) -> bool:
        hr, card, protocol = scard.SCardConnect(
            self._ctx,
            self.reader_name,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hr in CARD_GONE or hr == scard.SCARD_W_UNRESPONSIVE_CARD:
            return False
        if hr != scard.SCARD_S_SUCCESS:
            raise DeviceError(f"cannot connect to the card: {_error(hr)}")
        self._card, self._protocol = card, protocol
        hr, _, _, _, atr = scard.SCardStatus(card)
        self._atr = bytes(atr) if hr == scard.SCARD_S_SUCCESS else b""
        if self.cfg.extended_length == "auto":
            self.supports_extended_length = bool(self._max_apdu_data() > 261)
        log.info("card connected (T=%d)", 1 if protocol == scard.SCARD_PROTOCOL_T1 else 0)
        return True

    def _max_apdu_data(self) -> int:
        """PC/SC part 10 dwMaxAPDUDataSize, 0 when the reader does not say."""
        hr, features = scard.SCardControl(self._card, scard.SCARD_CTL_CODE(3400), [])
        if hr != scard.SCARD_S_SUCCESS:
            return 0
        raw = bytes(features)
        for i in range(0, len(raw) - 5, 6):
            if raw[i] == FEATURE_GET_TLV_PROPERTIES:
                code = int.from_bytes(raw[i + 2 : i + 6], "big")
                hr, props = scard.SCardControl(self._card, code, [])
                if hr != scard.SCARD_S_SUCCESS:
                    return 0
                props = bytes(props)
                pos = 0
                while pos + 2 <= len(props):
                    tag, size = props[pos], props[pos + 1]
                    if tag == PROPERTY_MAX_APDU_DATA:
                        return int.from_bytes(props[pos + 2 : pos + 2 + size], "little")
                    pos += 2 + size
        return 0

    def _disconnect(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card, self._atr = None, None

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self._require_open()
        if self._card is None and not (self.card_present() and self._connect()):
            raise NoCard("no card on the reader")
        card, protocol = self._card, self._protocol
        hr, response = scard.SCardTransmit(card, protocol, list(apdu))
        if hr != scard.SCARD_S_SUCCESS:
            if card is not self._card:  # abandoned by abort_transmit meanwhile
                raise NoCard(f"the card was reset after a stalled command ({_error(hr)})")
            if hr in CARD_GONE:
                self._disconnect()
                raise NoCard(f"the card left the reader ({_error(hr)})")
            if hr in GONE:
                self._disconnect()
                raise DeviceUnavailable(f"PC/SC reader gone: {_error(hr)}")
            raise DeviceError(f"PC/SC transmit failed: {_error(hr)}")
        if len(response) < 2:
            raise ProtocolError("the card's response is shorter than a status word")
        return bytes(response[:-2]), response[-2] << 8 | response[-1]

    def abort_transmit(self) -> None:
        """A transmit was abandoned (the chip stalled past the read's budget): later calls get a
        fresh PC/SC context (libpcsclite serialises the calls of one context, so they would wait
        behind the stalled one) and the card is reset as soon as the stalled call returns."""
        card, ctx = self._card, self._ctx
        self._card, self._atr = None, None
        hr, fresh = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr == scard.SCARD_S_SUCCESS:
            self._ctx = fresh
        else:
            ctx = None  # keep using the old context
        log.warning("card stalled: abandoning the command and resetting the card")

        def reset() -> None:
            if card is not None:
                scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
            if ctx is not None:
                scard.SCardReleaseContext(ctx)

        threading.Thread(target=reset, name="card-reset", daemon=True).start()
