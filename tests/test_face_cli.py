"""``appliance face check|capture`` and ``appliance bench face`` through the real entry point."""

from __future__ import annotations

import json

import cv2
import numpy as np

from appliance.cli import main
from appliance.hal.sim import SIM_DATA
from appliance.pipeline.face_quality import MEASURES

PORTRAIT = SIM_DATA / "camera" / "portrait.jpg"


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_check_several_images(tmp_path, capsys):
    dark = tmp_path / "dark.png"
    frame = cv2.imread(str(PORTRAIT))
    cv2.imwrite(str(dark), (frame * 0.3).astype(np.uint8))
    code = main(["face", "check", str(PORTRAIT), str(dark), "--json"])
    assert code == 0
    good, bad = json_lines(capsys.readouterr().out)
    assert good["file"] == str(PORTRAIT) and good["ok"] is True
    assert good["verdict"] == "pass" and good["reasons"] == []
    assert set(good["measures"]) == set(MEASURES)
    assert set(good["ms"]) == {"detect", "landmarks", "measures", "total"}
    assert bad["verdict"] == "fail" and "too_dark" in bad["reasons"]
    assert bad["guidance"]["en"].startswith("Too dark")


def test_check_missing_or_unreadable_file_is_invalid_input(tmp_path, capsys):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    code = main(["face", "check", str(tmp_path / "none.jpg"), str(junk), str(PORTRAIT), "--json"])
    assert code == 2
    missing, unreadable, good = json_lines(capsys.readouterr().out)
    assert missing["ok"] is False and missing["error"]["code"] == "invalid_input"
    assert missing["file"].endswith("none.jpg")
    assert unreadable["ok"] is False and "cannot read" in unreadable["error"]["message"]
    assert good["ok"] is True  # the others were still assessed


def test_check_writes_the_icao_portrait(tmp_path, capsys):
    assert main(["face", "check", str(PORTRAIT), "--portrait", str(tmp_path), "--json"]) == 0
    (out,) = json_lines(capsys.readouterr().out)
    crop = cv2.imread(out["portrait"])
    assert crop.shape == (640, 480, 3)


def test_capture_with_the_sim_camera(tmp_path, capsys):
    target = tmp_path / "face.jpg"
    code = main(["face", "capture", "--sim", "--out", str(target), "--timeout", "15", "--json"])
    assert code == 0
    (out,) = json_lines(capsys.readouterr().out)
    assert out["ok"] is True and out["verdict"] == "pass"
    assert target.read_bytes()[:2] == b"\xff\xd8" and out["bytes"] == target.stat().st_size
    assert out["stats"]["scored"] >= 5


def test_capture_fails_cleanly_when_nobody_is_there(tmp_path, monkeypatch, capsys):
    blank = tmp_path / "blank"
    blank.mkdir()
    cv2.imwrite(str(blank / "wall.png"), np.full((480, 640, 3), 200, np.uint8))
    monkeypatch.setenv("APPLIANCE_CAMERA_SIM_SOURCE", str(blank))
    code = main(["face", "capture", "--sim", "--timeout", "0.5", "--json"])
    assert code == 1
    (out,) = json_lines(capsys.readouterr().out)
    assert out["ok"] is False and out["error"]["code"] == "no_capture"
    assert "no_face" in out["error"]["message"]


def test_bench_face_records(tmp_path, capsys):
    assert main(["bench", "face", "--frames", "3", "--record", str(tmp_path), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert set(result["threads_1"]) == {"640x480", "1280x720", "640x480_no_face"}
    stages = result["threads_1"]["640x480"]["ms"]
    assert set(stages) == {"detect", "landmarks", "measures", "total"}
    assert result["threads_1"]["640x480"]["verdict"] == "pass"
    assert result["threads_1"]["640x480_no_face"]["reasons"] == ["no_face"]
    assert result["goal"]["total_ms_640x480_1_thread"] == 8.0
    (recorded,) = tmp_path.glob("face-*.json")
    assert json.loads(recorded.read_text())["machine"]["cores"] >= 1
