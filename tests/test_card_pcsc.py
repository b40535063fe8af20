"""The real PC/SC stack: a private pcscd with Debian's vpcd driver, the emulated chip as vpcd's
client, and pyscard (the ``pcsc`` backend) reading it exactly as it reads a real card.

pyscard runs in subprocesses: libpcsclite reads PCSCLITE_CSOCK_NAME (the private daemon's
socket) once, before its first connection. Skipped, loudly, only when pcscd cannot run here.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from appliance.citizen import TEST_CITIZEN
from appliance.hal.sim_card import sim_chip
from appliance.icao.emulator import CardEmulator
from appliance.icao.pcsc_lab import READER_NAME, PcscdUnavailable, PrivatePcscd
from appliance.icao.personalise import jpeg_of_size
from appliance.icao.vpcd import VpcdClient

APPLIANCE = [sys.executable, "-m", "appliance"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        lab = PrivatePcscd(tmp_path_factory.mktemp("pcscd")).start()
    except PcscdUnavailable as exc:
        pytest.skip(f"PC/SC STACK NOT TESTED: pcscd cannot run here: {exc}")
    yield lab
    lab.close()


@pytest.fixture
def card(lab):
    clients: list[VpcdClient] = []

    def serve(card: CardEmulator | None = None, start: bool = True) -> VpcdClient:
        image, _ = sim_chip()
        client = VpcdClient(card or CardEmulator(image), "127.0.0.1", lab.port)
        clients.append(client)
        if start:
            client.start()
            assert client.wait_connected(10), f"vpcd did not accept the card: {lab.log_tail()}"
        return client

    yield serve
    for client in clients:
        client.stop()


@pytest.fixture(scope="module")
def trust_dir(tmp_path_factory):
    _, trust = sim_chip()
    path = tmp_path_factory.mktemp("trust")
    (path / "csca.der").write_bytes(trust.certificates[0].dump())
    return path


def cli_read(lab, *args: str, timeout: float = 60) -> tuple[int, dict]:
    env = {**os.environ, **lab.env}
    cmd = [*APPLIANCE, "card", "read", "--reader", READER_NAME, "--wait", "5", *args, "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def bac_arg() -> str:
    image, _ = sim_chip()
    return ",".join(image.bac_input())


def test_full_read_over_pcscd_vpcd_and_pyscard(lab, card, trust_dir, tmp_path):
    code, out = cli_read(lab, "--bac", bac_arg(), "--wait", "0.3")  # first: no card served yet
    assert code == 1 and out["error"]["code"] == "no_card"
    card()
    code, out = cli_read(lab, "--bac", bac_arg(), "--trust", str(trust_dir), "--out", str(tmp_path))
    assert code == 0, out
    assert out["dg1"]["id_number"] == TEST_CITIZEN["id_number"]
    assert out["dg13"]["full_name"] == TEST_CITIZEN["full_name"]
    assert out["passive_auth"]["status"] == "verified"
    assert out["active_auth"]["status"] == "passed"
    assert (tmp_path / "face.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert out["stats"]["block_size"] == 231 and not out["stats"]["extended_length"]
    code, ext = cli_read(lab, "--bac", bac_arg(), "--trust", str(trust_dir), "--extended", "on")
    assert code == 0 and ext["stats"]["extended_length"]
    assert ext["stats"]["apdus"] < out["stats"]["apdus"] / 3
    assert ext["dg13"] == out["dg13"] and ext["passive_auth"]["status"] == "verified"


def test_tampered_chip_fails_passive_authentication_over_pcsc(lab, card, trust_dir):
    image, _ = sim_chip()
    dg2 = bytearray(image.files["DG2"])
    dg2[5000] ^= 0x01
    card(CardEmulator(image.with_file("DG2", bytes(dg2))))
    code, out = cli_read(lab, "--bac", bac_arg(), "--trust", str(trust_dir))
    assert code == 0
    assert (out["passive_auth"]["status"], out["passive_auth"]["failed_step"]) == (
        "failed",
        "hash:DG2",
    )


def test_wrong_key_over_pcsc(lab, card):
    card()
    code, out = cli_read(lab, "--bac", "090012345,900315,300316")
    assert code == 1 and out["error"]["code"] == "bac_failed"


DRIVER = r"""
import json, sys
from types import SimpleNamespace
from appliance.hal.card_pcsc import PcscCardReader
from appliance.icao.reader import read_card
from appliance.errors import ApplianceError

reader = PcscCardReader(SimpleNamespace(reader=sys.argv[1], extended_length="auto", backend="pcsc"))
bac = tuple(sys.argv[2:5])
for line in sys.stdin:
    cmd, *args = line.split()
    try:
        if cmd == "open":
            reader.open(); out = reader.reader_name
        elif cmd == "wait_card":
            atr = reader.wait_card(float(args[0])); out = atr.hex() if atr else None
        elif cmd == "event":
            out = reader.wait_event(float(args[0]), present=args[1] == "1")
        elif cmd == "present":
            out = reader.card_present()
        elif cmd == "check":
            reader.check(); out = "ok"
        elif cmd == "read":
            out = read_card(reader, bac, memory=None).passive_auth.status
        elif cmd == "transmit":
            out = list(reader.transmit(bytes.fromhex("00A4040C07A0000002471001")))
        print(json.dumps({"ok": True, "out": out}), flush=True)
    except ApplianceError as exc:
        print(json.dumps({"ok": False, "type": type(exc).__name__, "msg": exc.message}), flush=True)
"""


class Driver:
    """A pyscard process driven line by line, every answer bounded in time."""

    def __init__(self, lab) -> None:
        image, _ = sim_chip()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, READER_NAME, *image.bac_input()],
            env={**os.environ, **lab.env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def ask(self, command: str, timeout: float = 20.0) -> dict:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"driver did not answer {command!r}") from None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def test_insertion_removal_and_replugged_reader(lab, card):
    driver = Driver(lab)
    try:
        assert driver.ask("open") == {"ok": True, "out": f"{READER_NAME} 00 00"}
        if driver.ask("present")["out"]:  # pcscd may not have polled the last test's card away
            assert driver.ask("event 5 1")["out"] == "removed"
        assert driver.ask("wait_card 0.3")["out"] is None
        client = card(start=False)
        client.start()
        assert driver.ask("event 10 0")["out"] == "inserted"
        atr = driver.ask("wait_card 5")["out"]
        assert atr == client.card.atr.hex()
        assert driver.ask("read")["out"] == "chain_unknown"  # no trust store given
        client.remove()
        assert driver.ask("event 10 1")["out"] == "removed"
        gone = driver.ask("transmit")
        assert (gone["ok"], gone["type"]) == (False, "NoCard")

        lab.restart()  # the reader is unplugged and plugged back in
        client.insert()
        assert client.wait_connected(10)
        t0 = time.monotonic()
        assert driver.ask("wait_card 15")["out"] == atr
        assert time.monotonic() - t0 < 15
        assert driver.ask("check")["ok"] is True
        assert driver.ask("read")["out"] == "chain_unknown"
    finally:
        driver.close()


def test_emulate_command_serves_vpcd(lab, trust_dir, tmp_path):
    pki = tmp_path / "pki"
    subprocess.run([*APPLIANCE, "card", "pki", "--out", str(pki), "--json"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    (tmp_path / "id.json").write_text(json.dumps(TEST_CITIZEN, ensure_ascii=False))
    (tmp_path / "face.jpg").write_bytes(jpeg_of_size(4000))
    emulate = subprocess.Popen(
        [*APPLIANCE, "card", "emulate", "--identity", str(tmp_path / "id.json"), "--photo",
         str(tmp_path / "face.jpg"), "--pki", str(pki), "--vpcd", f"127.0.0.1:{lab.port}",
         "--aa", "ec", "--duration", "60", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        code, out = cli_read(lab, "--bac", bac_arg(), "--trust", str(pki))
        assert code == 0, out
        assert out["passive_auth"]["status"] == "verified"
        assert out["active_auth"]["status"] == "passed"
        assert out["active_auth"]["algorithm"] == "ecdsa-sha256"
    finally:
        emulate.send_signal(signal.SIGTERM)
        stdout, stderr = emulate.communicate(timeout=10)
    assert emulate.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["apdus"] > 10


def test_pace_with_the_can_from_the_qr_and_chip_authentication_over_pcsc(lab, card, trust_dir):
    from appliance.citizen import TEST_QR_PAYLOAD

    image, _ = sim_chip(ca=True)
    card(CardEmulator(image, access="pace"))
    qr = TEST_QR_PAYLOAD.decode() if isinstance(TEST_QR_PAYLOAD, bytes) else TEST_QR_PAYLOAD
    code, out = cli_read(lab, "--qr", qr, "--trust", str(trust_dir))
    assert code == 0, out
    assert out["access"]["method"] == "pace" and out["access"]["password"] == "can"
    assert out["access"]["curve"] == "brainpoolP256r1" and out["stats"]["sm_cipher"] == "aes-128"
    assert out["chip_auth"]["status"] == "passed" and out["passive_auth"]["status"] == "verified"
    assert out["stats"]["block_size"] == 223  # short APDUs under AES secure messaging
    code, out = cli_read(lab, "--qr", qr, "--can", "999999")  # a wrong CAN: PACE with the MRZ
    assert code == 0 and out["access"]["password"] == "mrz", out
    code, out = cli_read(lab, "--can", "999999")  # nothing else to try: fails closed
    assert code == 1 and out["error"]["code"] == "pace_failed"
