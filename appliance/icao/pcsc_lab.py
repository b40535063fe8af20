"""A private ``pcscd`` with a vpcd reader, for tests and benchmarks (never used in production).

pcscd 1.9 always creates its socket at ``/run/pcscd/pcscd.comm``; to keep a test's daemon away
from a system one, it runs in its own mount namespace (``unshare -m``) with a temporary folder
bind-mounted over ``/run/pcscd``: the socket lands in that folder, and clients reach it through
``PCSCLITE_CSOCK_NAME`` (read by libpcsclite before its first connection, so set it in the
environment of a fresh process). vpcd listens on a free port chosen here (and the next one, its
second slot), not on the system's 35963.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

READER_NAME = "Virtual PCD"
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")


class PcscdUnavailable(RuntimeError):
    """pcscd cannot be started here (missing package, not root, no namespaces)."""


def vpcd_driver() -> str | None:
    found = sorted(glob.glob("/usr/lib*/pcsc/drivers/serial/libifdvpcd.so*")) + sorted(
        glob.glob("/usr/lib/*/pcsc/drivers/serial/libifdvpcd.so*")
    )
    return found[0] if found else None


def free_port_pair() -> int:
    """A port p with p and p + 1 both free (vpcd opens two slots)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("0.0.0.0", port + 1))
            return port
        except OSError:
            continue
    raise PcscdUnavailable("no free pair of TCP ports for vpcd")


def _socket_alive(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


class PrivatePcscd:
    """``with PrivatePcscd() as lab:`` -> ``lab.port`` (for the emulator's vpcd client) and
    ``lab.env`` (for the pyscard process)."""

    def __init__(self, workdir: str | Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pcscd-")
        self.dir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.port = 0
        self.socket_path = SYSTEM_SOCKET
        self.proc: subprocess.Popen | None = None
        self.private = False
        self.log_path = self.dir / "pcscd.log"

    @property
    def env(self) -> dict[str, str]:
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def start(self, timeout: float = 10.0) -> PrivatePcscd:
        pcscd = shutil.which("pcscd") or (
            "/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None
        )
        driver = vpcd_driver()
        if pcscd is None:
            raise PcscdUnavailable("pcscd is not installed (apt install pcscd)")
        if driver is None:
            raise PcscdUnavailable("the vpcd driver is not installed (apt install vsmartcard-vpcd)")
        self.port = free_port_pair()
        conf = self.dir / "reader.conf.d"
        run = self.dir / "run"
        conf.mkdir(parents=True, exist_ok=True)
        run.mkdir(exist_ok=True)
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_NAME}"\nDEVICENAME /dev/null:0x{self.port:04X}\n'
            f"LIBPATH {driver}\nCHANNELID 0x{self.port:04X}\n"
        )
        unshare = shutil.which("unshare")
        if os.geteuid() == 0 and unshare and self._try_private(unshare, pcscd, conf, run, timeout):
            return self
        if _socket_alive(SYSTEM_SOCKET):
            raise PcscdUnavailable(
                "a system pcscd is running and a private one needs root and unshare -m "
                f"(see {self.log_path})"
            )
        if os.geteuid() != 0:
            raise PcscdUnavailable("starting pcscd needs root (it creates /run/pcscd)")
        self._launch([pcscd, "--foreground", "-c", str(conf)])
        self.socket_path = SYSTEM_SOCKET
        self._wait_ready(timeout)
        return self

    def _try_private(self, unshare: str, pcscd: str, conf: Path, run: Path, timeout: float) -> bool:
        script = (
            f"mkdir -p /run/pcscd && mount --bind '{run}' /run/pcscd && "
            f"exec '{pcscd}' --foreground -i -c '{conf}'"
        )
        self._launch([unshare, "-m", "sh", "-c", script])
        self.socket_path = run / "pcscd.comm"
        try:
            self._wait_ready(timeout)
        except PcscdUnavailable:
            self.stop()
            return False
        self.private = True
        return True

    def _launch(self, cmd: list[str]) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PcscdUnavailable(
                    f"pcscd exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if _socket_alive(self.socket_path) and "ready" in self.log_tail(4000):
                return
            time.sleep(0.05)
        raise PcscdUnavailable(f"pcscd did not get ready in {timeout:g} s: {self.log_tail()}")

    def log_tail(self, size: int = 600) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port and socket (a reader unplugged and replugged)."""
        self.stop()
        conf, run = self.dir / "reader.conf.d", self.dir / "run"
        if self.private:
            unshare = shutil.which("unshare") or "unshare"
            pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
            if not self._try_private(unshare, pcscd, conf, run, timeout):
                raise PcscdUnavailable(f"pcscd did not restart: {self.log_tail()}")
        else:
            self._launch(
                [shutil.which("pcscd") or "/usr/sbin/pcscd", "--foreground", "-c", str(conf)]
            )
            self._wait_ready(timeout)

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
