"""``appliance qr parse``, ``mrz parse``, ``bac keys`` and ``bench cccd`` through the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cccd_expected import MRZ_EXPECTED, QR_EXPECTED

from appliance.citizen import TEST_QR_PAYLOAD
from appliance.cli import main

VN_MRZ = (
    "IDVNM0900123450001090012345<<1\n"
    "9003152M3003150VNM<<<<<<<<<<<2\n"
    "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<\n"
)


@pytest.fixture(autouse=True)
def _synced_clock(monkeypatch):
    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "1")


def feed_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def run(capsys, argv: list[str]) -> tuple[int, dict, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # one JSON object
    return code, json.loads(lines[0]), err


# --------------------------------------------------------------------------- qr parse


def test_qr_parse_argument(capsys):
    code, obj, err = run(
        capsys, ["qr", "parse", TEST_QR_PAYLOAD, "--today", "2025-06-01", "--json"]
    )
    assert code == 0 and obj == QR_EXPECTED and err == ""


def test_qr_parse_stdin_raw_bytes_with_crlf(capsys, monkeypatch):
    feed_stdin(monkeypatch, TEST_QR_PAYLOAD.encode() + b"\r\n")
    code, obj, _ = run(capsys, ["qr", "parse", "--today", "2025-06-01"])
    assert code == 0 and obj == QR_EXPECTED


def test_qr_parse_stdin_not_utf8(capsys, monkeypatch):
    feed_stdin(monkeypatch, b"\xff\xfe\x00garbage")
    code, obj, err = run(capsys, ["qr", "parse", "--json"])
    assert code == 2
    assert obj["ok"] is False and obj["error"]["code"] == "malformed"
    assert err.startswith("appliance: ")


def test_qr_parse_expired(capsys):
    code, obj, _ = run(capsys, ["qr", "parse", TEST_QR_PAYLOAD, "--today", "2030-03-16"])
    assert code == 0 and obj["expired"] is True and obj["warnings"] == ["expired"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("hello", "malformed"),
        (TEST_QR_PAYLOAD.replace("001090012345", "0010900123"), "bad_id_number"),
        (TEST_QR_PAYLOAD.replace("||", "|1234|"), "bad_old_id_number"),
        (TEST_QR_PAYLOAD.replace("NGUYỄN VĂN AN", ""), "empty_name"),
        (TEST_QR_PAYLOAD.replace("NGUYỄN VĂN AN", "Bﾃｹi Vﾄハ ﾃ］h"), "bad_text"),
        (TEST_QR_PAYLOAD.replace("15031990", "31021990"), "bad_date"),
        (TEST_QR_PAYLOAD.replace("|Nam|", "|Male|"), "bad_sex"),
        (TEST_QR_PAYLOAD.replace("|Nam|", "|Nữ|"), "id_mismatch"),
        (TEST_QR_PAYLOAD.replace("10042021", "10041980"), "date_order"),
    ],
)
def test_qr_parse_error_codes(capsys, payload, code):
    exit_code, obj, err = run(capsys, ["qr", "parse", payload, "--today", "2025-06-01"])
    assert exit_code == 2
    assert set(obj) == {"ok", "error"} and obj["ok"] is False
    assert obj["error"]["code"] == code and obj["error"]["message"]
    assert obj["error"]["message"] in err


def test_qr_parse_unknown_layout(capsys):
    code, obj, _ = run(capsys, ["qr", "parse", "001090012345|a|b|c"])
    assert code == 0 and obj["layout"] == "unknown" and obj["warnings"] == ["unknown_layout"]
    assert obj["bac"] is None and obj["expired"] is None


def test_qr_parse_bad_today_is_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["qr", "parse", TEST_QR_PAYLOAD, "--today", "15/03/2025"])
    assert info.value.code == 2
    obj = json.loads(capsys.readouterr().out)
    assert obj["error"]["code"] == "usage"


def test_qr_parse_notes_an_unsynchronised_clock(capsys, monkeypatch):
    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "0")
    code, obj, err = run(capsys, ["qr", "parse", TEST_QR_PAYLOAD])
    assert code == 0 and obj["ok"] is True
    assert "clock is not synchronised" in err
    run(capsys, ["qr", "parse", TEST_QR_PAYLOAD, "--today", "2025-06-01"])  # --today: no note


def test_qr_parse_text_output_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["qr", "parse", TEST_QR_PAYLOAD, "--today", "2025-06-01"]) == 0
    out = capsys.readouterr().out
    assert "full_name: NGUYỄN VĂN AN" in out and not out.startswith("{")


# --------------------------------------------------------------------------- mrz parse


def test_mrz_parse(capsys, monkeypatch):
    feed_stdin(monkeypatch, b"\n  " + VN_MRZ.encode() + b"\n\n")
    code, obj, _ = run(capsys, ["mrz", "parse", "--today", "2025-06-01"])
    assert code == 0
    assert obj == MRZ_EXPECTED


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (VN_MRZ.encode()[:40], "bad_length"),
        (VN_MRZ.lower().encode(), "bad_charset"),
        (b"\xff" + VN_MRZ.encode()[1:], "bad_charset"),
        (VN_MRZ.replace("<<1", "<<2").encode(), "check_digit"),
    ],
)
def test_mrz_parse_errors(capsys, monkeypatch, data, code):
    feed_stdin(monkeypatch, data)
    exit_code, obj, _ = run(capsys, ["mrz", "parse"])
    assert exit_code == 2 and obj["error"]["code"] == code


def test_mrz_check_digit_message_names_the_field(capsys, monkeypatch):
    feed_stdin(monkeypatch, VN_MRZ.replace("<<1", "<<2").encode())
    _, obj, _ = run(capsys, ["mrz", "parse"])
    assert "ID number" in obj["error"]["message"]


# --------------------------------------------------------------------------- bac keys

VN_KEYS = {
    "ok": True,
    "mrz_information": "090012345090031523003150",
    "kseed": "13153308008AD6D6E8F6709002E103DF",
}


def test_bac_keys_from_qr(capsys):
    code, obj, _ = run(capsys, ["bac", "keys", "--qr", TEST_QR_PAYLOAD])
    assert code == 0 and VN_KEYS.items() <= obj.items()
    assert set(obj) == {"ok", "mrz_information", "kseed", "kenc", "kmac"}
    assert obj["kenc"] == obj["kenc"].upper() and len(obj["kenc"]) == 32


def test_bac_keys_from_mrz_file(capsys, tmp_path):
    f = tmp_path / "mrz.txt"
    f.write_text(VN_MRZ)
    code, obj, _ = run(capsys, ["bac", "keys", "--mrz-file", str(f)])
    assert code == 0 and VN_KEYS.items() <= obj.items()
    code, qr_obj, _ = run(capsys, ["bac", "keys", "--qr", TEST_QR_PAYLOAD])
    assert qr_obj == obj


def test_bac_keys_from_fields_icao(capsys):
    code, obj, _ = run(capsys, ["bac", "keys", "--bac", "L898902C,690806,940623"])
    assert code == 0
    assert obj == {
        "ok": True,
        "mrz_information": "L898902C<369080619406236",
        "kseed": "239AB9CB282DAF66231DC5A4DF6BFBAE",
        "kenc": "AB94FDECF2674FDFB9B391F85D7F76F2",
        "kmac": "7962D9ECE03D1ACD4C76089DCE131543",
    }


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--bac", "L898902C,690806"], "usage"),
        (["--bac", "L898902C,691306,940623"], "bad_date"),
        (["--bac", "L89-902C,690806,940623"], "bad_document_number"),
        (["--qr", "001090012345|x"], "unknown_layout"),
        (["--qr", "nonsense"], "malformed"),
        (["--mrz-file", "/nonexistent/mrz.txt"], "unreadable_file"),
    ],
)
def test_bac_keys_errors(capsys, argv, code):
    exit_code, obj, _ = run(capsys, ["bac", "keys", *argv])
    assert exit_code == 2 and obj["error"]["code"] == code


def test_bac_keys_needs_exactly_one_source(capsys):
    for argv in (["bac", "keys"], ["bac", "keys", "--qr", "x", "--bac", "a,b,c"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage"


# --------------------------------------------------------------------------- bench


def test_bench_cccd_small_run(capsys, tmp_path):
    assert (
        main(["bench", "cccd", "--count", "50", "--repeats", "1", "--record", str(tmp_path)]) == 0
    )
    obj = json.loads(capsys.readouterr().out)
    assert obj["count"] == 50 and obj["results"]["qr_parse_bytes"]["seconds"] > 0
    recorded = list(tmp_path.glob("cccd-*.json"))
    assert len(recorded) == 1 and "machine" in json.loads(recorded[0].read_text())


# --------------------------------------------------------------------------- real process


def test_installed_command_exit_codes_and_stdin_bytes(tmp_path):
    exe = Path(sys.executable).with_name("appliance")
    env = {"PATH": "/usr/bin:/bin", "APPLIANCE_CLOCK_SYNCED": "1", "LANG": "C"}
    ok = subprocess.run(
        [exe, "qr", "parse", "--today", "2025-06-01"],
        input=TEST_QR_PAYLOAD.encode() + b"\r\n",
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == QR_EXPECTED
    bad = subprocess.run(
        [exe, "qr", "parse", TEST_QR_PAYLOAD.replace("NGUYỄN VĂN AN", "Bﾃｹi Vﾄハ ﾃ］h")],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"]["code"] == "bad_text"
    assert b"Traceback" not in bad.stderr
