"""The emulated chip as a client of Debian's ``vsmartcard-vpcd`` driver, so that ``pcscd`` shows a
reader with a card and any PC/SC program (pyscard included) reads it like a real one.

vpcd listens on TCP port 35963 (``/etc/reader.conf.d/vpcd``); every message both ways is a
2-byte big-endian length and a payload. A 1-byte payload from vpcd is a control code: 0 power
off, 1 power on, 2 reset, 4 send the ATR; anything longer is a command APDU, answered with the
response APDU. The card is "on the reader" while the connection is open. vpcd listens on all
interfaces: it is for tests and development only and is never installed in the image.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from appliance.icao.emulator import CardEmulator

log = logging.getLogger(__name__)

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST`` or ``:PORT`` -> (host, port)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        return host or DEFAULT_HOST, int(port) if port else DEFAULT_PORT
    except ValueError:
        from appliance.errors import InvalidInput

        raise InvalidInput(f"not HOST:PORT: {text!r}") from None


def _quick_ack(sock: socket.socket) -> None:
    """ACK at once: vpcd writes the length and the payload in two sends, and Nagle on its side
    plus delayed ACKs on ours would add ~40 ms to every APDU (Linux only; re-armed per read)."""
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


class VpcdClient:
    """Serves one emulated chip to vpcd until :meth:`stop`; reconnects if vpcd restarts."""

    def __init__(
        self, card: CardEmulator, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        self.card = card
        self.host, self.port = host, port
        self._stop = threading.Event()
        self._inserted = threading.Event()
        self._inserted.set()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.connected = threading.Event()
        self.apdus = 0

    # control

    def start(self) -> VpcdClient:
        self._thread = threading.Thread(target=self.serve, name="vpcd-client", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._close()
        if self._thread is not None:
            self._thread.join(timeout)

    def remove(self) -> None:
        """Take the card off the reader (the connection closes)."""
        self._inserted.clear()
        self._close()

    def insert(self) -> None:
        self._inserted.set()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # the loop

    def serve(self) -> None:
        while not self._stop.is_set():
            if not self._inserted.wait(0.1):
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                self._stop.wait(0.2)
                continue
            sock.settimeout(0.2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.connected.set()
            log.info("emulated chip connected to vpcd at %s:%d", self.host, self.port)
            try:
                self._session(sock)
            except OSError as exc:
                log.info("vpcd connection ended: %s", exc)
            finally:
                self.connected.clear()
                self._close()
                self.card.reset()

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _recv(self, sock: socket.socket, size: int) -> bytes | None:
        buf = b""
        while len(buf) < size:
            if self._stop.is_set() or not self._inserted.is_set():
                return None
            try:
                chunk = sock.recv(size - len(buf))
            except TimeoutError:
                continue
            if not chunk:
                return None
            _quick_ack(sock)
            buf += chunk
        return buf

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(len(payload).to_bytes(2, "big") + payload)

    def _session(self, sock: socket.socket) -> None:
        while True:
            header = self._recv(sock, 2)
            if header is None:
                return
            payload = self._recv(sock, int.from_bytes(header, "big"))
            if payload is None:
                return
            if len(payload) == 1:
                if payload[0] == GET_ATR:
                    self._send(sock, self.card.atr)
                elif payload[0] in (POWER_OFF, POWER_ON, RESET):
                    self.card.reset()
                continue
            t0 = time.perf_counter()
            response = self.card.process(payload)
            self.apdus += 1
            log.debug("APDU %d processed in %.2f ms", self.apdus, (time.perf_counter() - t0) * 1e3)
            self._send(sock, response)
