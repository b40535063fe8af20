"""Speech keys: every screen names what it says, every key has text in every language and can be
spoken (a recorded clip or an eSpeak NG rendering), and the /speech route follows the rules."""

from __future__ import annotations

import json
import re
import shutil
import wave
from pathlib import Path

import pytest
from support import REPO_ROOT

from appliance.kiosk_ui.languages import BUILTIN, Languages, builtin_table, pseudo_table
from appliance.kiosk_ui.speech import Speaker, clip_id, spoken_text, text_hash
from appliance.pipeline.workflows.speech_keys import SCREEN_SPEECH, all_items, speech_for

DOC = REPO_ROOT / "docs" / "ui-protocol.md"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


def pseudo_pack(root: Path, drop: tuple[str, ...] = ()) -> Path:
    table = {k: v for k, v in pseudo_table().items() if k not in drop}
    (root / "en-xa").mkdir(parents=True)
    (root / "en-xa" / "text.json").write_text(json.dumps(table, ensure_ascii=False), "utf-8")
    return root


def documented_screens() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("| screen | data | commands it accepts |", 1)[1].split("\n\n", 1)[0]
    return {s for row in table.splitlines() for s in re.findall(r"^\| `([a-z_.]+)`", row)} | {
        s for row in table.splitlines() for s in re.findall(r"^\| `[a-z_.]+`, `([a-z_.]+)`", row)
    }


def test_every_documented_screen_names_its_speech_and_the_doc_lists_the_keys():
    screens = documented_screens()
    assert {"home", "enroll.face", "verify.result", "error"} <= screens
    assert screens <= set(SCREEN_SPEECH), screens - set(SCREEN_SPEECH)
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split("## Speech keys", 1)[1]
    for screen in SCREEN_SPEECH:
        assert f"`{screen}`" in section, f"{screen} missing from the speech keys section"
    for item in speech_for("enroll.finger", {"finger": "left_index"}):
        assert item == {"key": "finger.place", "args": {"finger": "finger.name.left_index"}}


def test_no_personal_data_is_ever_spoken():
    data = {"full_name": "NGUYỄN VĂN AN", "masked_id": "001******345", "receipt_code": "7K2M-Q9XD"}
    for screen in SCREEN_SPEECH:
        said = json.dumps(speech_for(screen, dict(data)))
        assert "NGUYỄN" not in said and "001" not in said and "7K2M" not in said


@pytest.mark.parametrize("lang", [*BUILTIN, "en-xa"])
def test_every_spoken_item_has_text_in_every_language(tmp_path, lang):
    langs = Languages(pseudo_pack(tmp_path))
    table = langs.table(lang)
    items = all_items()
    assert len(items) > 150
    for it in items:
        text = spoken_text(table, it["key"], it["args"])
        assert text, f"{lang}: no text for {it}"
        assert "{" not in text, f"{lang}: unresolved parameter in {it}: {text}"
        if lang in BUILTIN:
            assert it["key"] in builtin_table(lang), f"{lang}: {it['key']} only by fallback"


@needs_espeak
@pytest.mark.parametrize("lang", BUILTIN)
async def test_every_item_is_spoken_by_espeak_or_a_clip(tmp_path, lang):
    speaker = Speaker(Languages(tmp_path / "packs"), tmp_path / "cache")
    assert speaker.voice(lang) is not None
    texts = {}
    for it in all_items():
        spoken = await speaker.speak(lang, it["key"], it["args"])
        assert spoken.source in ("clip", "espeak") and spoken.lang == lang
        with wave.open(str(spoken.path)) as w:
            assert w.getnframes() / w.getframerate() > 0.2, it  # some speech, not silence
        texts[clip_id(it["key"], it["args"])] = spoken.text
    cached = list((tmp_path / "cache").glob("*.wav"))
    assert len(cached) == len(set(texts.values()))  # rendered once per text: keyed by it
    again = await speaker.speak(lang, "home.title")
    assert again.path in cached


@needs_espeak
async def test_a_current_clip_wins_a_stale_one_does_not_and_missing_texts_speak_vietnamese(
    tmp_path, caplog
):
    packs = pseudo_pack(tmp_path / "packs", drop=("scan.body",))
    audio = packs / "en-xa" / "audio"
    audio.mkdir()
    qps = Languages(packs).table("en-xa")
    (audio / "home.title.wav").write_bytes(b"RIFF....WAVEfake")
    (audio / "scan.title.wav").write_bytes(b"RIFF....WAVEfake")
    manifest = {
        "home.title": {"file": "home.title.wav", "text_sha256": text_hash(qps["home.title"])},
        "scan.title": {"file": "scan.title.wav", "text_sha256": text_hash("old words")},
        "face.title": {"file": "../../../etc/passwd", "text_sha256": text_hash(qps["face.title"])},
    }
    (audio / "manifest.json").write_text(json.dumps({"clips": manifest}), "utf-8")
    speaker = Speaker(Languages(packs), tmp_path / "cache")
    speaker._voices["en-xa"] = False  # eSpeak has no such voice
    clip = await speaker.speak("en-xa", "home.title")
    assert (clip.source, clip.path) == ("clip", audio / "home.title.wav")
    stale = await speaker.speak("en-xa", "scan.title")  # stale, and no qps voice: Vietnamese
    assert (stale.source, stale.lang) == ("espeak", "vi")
    escape = await speaker.speak("en-xa", "face.title")  # a path out of the folder is no clip
    assert escape.source == "espeak"
    missing = await speaker.speak("en-xa", "scan.body")  # shown in Vietnamese: spoken so too
    assert missing.lang == "vi" and missing.text == spoken_text(builtin_table("vi"), "scan.body")
    with pytest.raises(ValueError):
        await speaker.speak("en-xa", "no.such.key")
    with pytest.raises(ValueError):
        await speaker.speak("xx", "home.title")
    with pytest.raises(ValueError):
        await speaker.speak("vi", "finger.place", {"finger": "a b/../c"})
    with pytest.raises(ValueError):  # free text would grow the cache without end
        await speaker.speak("vi", "finger.place", {"finger": "anything_else"})
