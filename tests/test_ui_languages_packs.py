"""Language packs: discovery, key-by-key fallback to Vietnamese with a log line, the completeness
report, the routes (/i18n, /speech with the kiosk token), and `appliance ui audio-pack`."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support import APPLIANCE, kiosk_url
from test_ui_voice_keys import pseudo_pack

from appliance.config import load_config
from appliance.kiosk_ui.audio_pack import check, scaffold
from appliance.kiosk_ui.languages import Languages, builtin_table, pseudo_text
from appliance.kiosk_ui.speech import text_hash
from appliance.service import Service

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


def test_pseudo_text_is_longer_accented_and_keeps_parameters():
    s = pseudo_text("Place {finger} on the sensor.")
    assert "{finger}" in s and s.startswith("⟦") and s.endswith("⟧")
    assert len(s) >= 1.35 * len("Place {finger} on the sensor.")
    assert "ằ" in s or "ế" in s


def test_a_pack_falls_back_to_vietnamese_key_by_key_with_one_log_line(tmp_path, caplog):
    root = pseudo_pack(tmp_path, drop=("home.title", "scan.body", "guidance.face.too_dark"))
    (tmp_path / "BAD!").mkdir()
    (tmp_path / "hmn").mkdir()  # a folder with no text.json yet
    (tmp_path / "tay").mkdir()
    (tmp_path / "tay" / "text.json").write_text('["not", "an", "object"]', "utf-8")
    with caplog.at_level(logging.INFO, logger="appliance.kiosk_ui.languages"):
        langs = Languages(root)
    assert langs.codes == ["vi", "en", "en-xa"]
    assert set(langs.errors) == {"BAD!", "hmn", "tay"}
    qps = langs.table("en-xa")
    vi = builtin_table("vi")
    assert qps["home.title"] == vi["home.title"]  # fallback
    assert qps["guidance.face.too_dark"] == vi["guidance.face.too_dark"]
    assert qps["home.subtitle"] != vi["home.subtitle"] and qps["home.subtitle"].startswith("⟦")
    lines = [r.getMessage() for r in caplog.records if "en-xa" in r.getMessage()]
    assert len(lines) == 1 and "3 of" in lines[0] and "home.title" in lines[0]
    report = langs.completeness()
    assert report["vi"]["ratio"] == 1.0 and report["en"]["ratio"] == 1.0
    assert report["en-xa"]["missing"] == sorted(
        ["home.title", "scan.body", "guidance.face.too_dark"]
    )
    assert langs.names()["en-xa"] == "⟦Pseudo⟧" and langs.names()["vi"] == "Tiếng Việt"


def test_completeness_of_the_shipped_languages(capsys):
    """The report `make test` prints: every language present and how much of it is its own."""
    langs = Languages(None)
    report = langs.completeness()
    with capsys.disabled():
        print("\nlanguage completeness:", {c: r["ratio"] for c, r in report.items()})
    for code in ("vi", "en"):
        assert report[code]["missing"] == [], (code, report[code]["missing"][:10])
    assert langs.errors == {}, langs.errors  # every shipped pack is usable


def service_for(tmp_path: Path, packs: Path) -> Service:
    env = {
        "APPLIANCE_STORE_DEMO_OFFICE_KEY": "1",
        "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
        "APPLIANCE_CONFIG_DIR": str(tmp_path / "etc"),
        "APPLIANCE_UI_PACKS_DIR": str(packs),
    }
    return Service(load_config("sim", sim=True, env=env))


@needs_espeak
async def test_routes_serve_pack_languages_and_speech_only_with_the_token(tmp_path):
    service = service_for(tmp_path, pseudo_pack(tmp_path / "packs", drop=("home.title",)))
    hello = service.ui.kiosk.hello()[0]
    assert hello["languages"] == ["vi", "en", "en-xa"]
    assert hello["voice"] == {"auto": False, "volume": 0.8, "engine": True}
    assert hello["help_after_s"] == 15.0
    client = TestClient(TestServer(service.app))
    await client.start_server()
    try:
        resp = await client.get("/speech", params={"lang": "vi", "key": "home.title"})
        assert resp.status == 403  # no kiosk cookie: a personal route like the others
        await client.get(kiosk_url("", service.cfg.state_dir))
        resp = await client.get("/speech", params={"lang": "vi", "key": "home.title"})
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/wav"
        assert resp.headers["X-Speech-Source"] == "espeak"
        assert (await resp.read())[:4] == b"RIFF"
        resp = await client.get(
            "/speech",
            params={"lang": "en", "key": "finger.place", "finger": "finger.name.left_index"},
        )
        assert resp.status == 200 and resp.headers["X-Speech-Lang"] == "en"
        resp = await client.get("/speech", params={"lang": "en-xa", "key": "home.title"})
        assert resp.headers["X-Speech-Lang"] == "vi"  # not in the pack: said in Vietnamese
        for bad, status in (
            ({"lang": "vi", "key": "nope"}, 404),
            ({"lang": "fr", "key": "home.title"}, 404),
            ({"lang": "vi"}, 400),
            ({"lang": "vi", "key": "x", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}, 400),
        ):
            assert (await client.get("/speech", params=bad)).status == status, bad
        qps = await (await client.get("/i18n/en-xa.json")).json()
        assert qps["home.title"] == builtin_table("vi")["home.title"]
        assert qps["scan.title"].startswith("⟦")
        vi = await (await client.get("/i18n/vi.json")).json()
        assert vi["guidance.finger.too_dry"].startswith("Ngón tay quá khô")
        assert (await client.get("/i18n/fr.json")).status == 404
        assert (await client.get("/i18n/..%2Fconfig.json")).status == 404
        service.ui.kiosk.handle({"type": "command", "name": "lang", "args": {"lang": "en-xa"}})
        assert service.ui.kiosk.lang == "en-xa"
        service.ui.kiosk.handle({"type": "command", "name": "lang", "args": {"lang": "fr"}})
        assert service.ui.kiosk.lang == "en-xa"
    finally:
        await client.close()


def test_audio_pack_check_and_scaffold_track_missing_and_stale_clips(tmp_path):
    root = pseudo_pack(tmp_path)
    langs = Languages(root)
    first = check(langs, "en-xa")
    assert first.ok == [] and len(first.missing) > 150 and first.stale == []
    script = scaffold(langs, "en-xa")
    text = script.read_text("utf-8")
    assert "| `home.title.wav` |" in text and langs.table("en-xa")["home.title"] in text
    audio = root / "en-xa" / "audio"
    (audio / "home.title.wav").write_bytes(b"RIFF-recorded")
    (audio / "scan.title.wav").write_bytes(b"RIFF-recorded")
    after = check(langs, "en-xa")
    assert {"home.title", "scan.title"} <= set(after.ok)
    assert len(after.missing) == len(first.missing) - 2
    # the text of scan.title changes after recording: the clip is stale, scaffold sets it aside
    table = json.loads((root / "en-xa" / "text.json").read_text("utf-8"))
    table["scan.title"] = "⟦Nẽw wọrds⟧"
    (root / "en-xa" / "text.json").write_text(json.dumps(table, ensure_ascii=False), "utf-8")
    langs = Languages(root)
    assert check(langs, "en-xa").stale == ["scan.title"]
    scaffold(langs, "en-xa")
    assert not (audio / "scan.title.wav").exists() and (audio / "scan.title.stale.wav").exists()
    manifest = json.loads((audio / "manifest.json").read_text("utf-8"))["clips"]
    assert manifest["scan.title"]["text_sha256"] == text_hash("⟦Nẽw wọrds⟧")
    final = check(langs, "en-xa")
    assert "scan.title" in final.missing and "home.title" in final.ok and final.stale == []


def test_audio_pack_cli(tmp_path):
    root = pseudo_pack(tmp_path / "packs")
    run = lambda *a: subprocess.run(  # noqa: E731
        [*APPLIANCE, "ui", *a, "--packs", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    res = run("audio-pack", "check", "en-xa")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["recorded"] == 0 and "home.title" in out["missing"]
    res = run("audio-pack", "scaffold", "en-xa")
    assert res.returncode == 0, res.stderr
    assert Path(json.loads(res.stdout)["script"]).is_file()
    res = run("audio-pack", "check", "xx")
    assert res.returncode != 0 and "unknown_language" in res.stdout + res.stderr
    res = run("languages")
    assert res.returncode == 0
    rows = json.loads(res.stdout)["languages"]
    assert set(rows) == {"vi", "en", "en-xa"} and rows["vi"]["ratio"] == 1.0


def test_consent_in_a_pack_language_is_hashed_on_the_words_shown(tmp_path):
    from appliance.kiosk_ui import languages
    from appliance.kiosk_ui.texts import consent_document, consent_hash

    langs = languages.install(pseudo_pack(tmp_path, drop=("consent.note",)))
    try:
        doc = consent_document("en-xa", ["face"], "2025-01")
        assert doc["intro"] == langs.table("en-xa")["consent.intro"] and doc["intro"].startswith(
            "⟦"
        )
        assert doc["note"] == builtin_table("vi")["consent.note"]  # shown in Vietnamese
        assert consent_hash("en-xa", ["face"], "2025-01") != consent_hash("vi", ["face"], "2025-01")
    finally:
        languages.install(None)
    with pytest.raises(ValueError):
        consent_hash("en-xa", ["face"], "2025-01")
