"""Audio packs: recorded clips that replace eSpeak NG for a language (docs/audio-pack.md).

Layout, one folder per language under ``[ui] packs_dir``::

    <lang>/audio/manifest.json   {"version": 1, "clips": {"<clip id>": {file, text_sha256, text}}}
    <lang>/audio/<clip id>.wav   one clip per speech item (WAV or Ogg)
    <lang>/audio/script.md       written by `appliance ui audio-pack scaffold LANG`

A clip id is the item's key, or ``key+value...`` for an item with arguments
(``finger.place+finger.name.right_index``). ``text_sha256`` is the hash of the exact text the clip
was recorded for (:func:`appliance.kiosk_ui.speech.text_hash`); when the text changes, the clip is
*stale* and the kiosk speaks with eSpeak NG until it is recorded again.

``scaffold`` writes the recording script (every missing or stale clip, its file name and the words
to say) and enters each of them in the manifest with the hash of today's text; a stale clip's old
file is renamed ``*.stale.wav`` so that it cannot pass for the new one. The recorder then saves
each line under its file name; ``check`` confirms nothing is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.kiosk_ui.languages import Languages
from appliance.kiosk_ui.speech import clip_id, spoken_text, text_hash
from appliance.pipeline.workflows.speech_keys import all_items

AUDIO_SUFFIXES = (".wav", ".ogg", ".opus")
MANIFEST = "manifest.json"


class PackFormatError(ValueError):
    """A manifest that cannot be read."""


@dataclass
class Report:
    lang: str
    ok: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # no clip (file or manifest entry)
    stale: list[str] = field(default_factory=list)  # recorded for another text
    unknown: list[str] = field(default_factory=list)  # in the manifest, never spoken

    def to_dict(self) -> dict[str, Any]:
        total = len(self.ok) + len(self.missing) + len(self.stale)
        return {
            "lang": self.lang,
            "clips": total,
            "recorded": len(self.ok),
            "missing": self.missing,
            "stale": self.stale,
            "unknown": self.unknown,
        }


class Pack:
    """The audio folder of one language."""

    def __init__(self, root: Path, lang: str) -> None:
        self.lang = lang
        self.folder = Path(root) / lang / "audio"

    def manifest(self) -> dict[str, dict[str, Any]]:
        path = self.folder / MANIFEST
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PackFormatError(f"{path}: {exc}") from None
        clips = data.get("clips") if isinstance(data, dict) else None
        if not isinstance(clips, dict):
            raise PackFormatError(f'{path}: expected {{"clips": {{...}}}}')
        return {k: v for k, v in clips.items() if isinstance(v, dict)}

    def entry(self, cid: str) -> dict[str, Any] | None:
        try:
            return self.manifest().get(cid)
        except PackFormatError:
            return None

    def clip_path(self, entry: dict[str, Any]) -> Path | None:
        """The entry's file, if it is a plain audio file name inside the folder and exists."""
        name = str(entry.get("file", ""))
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        if not name.endswith(AUDIO_SUFFIXES):
            return None
        path = self.folder / name
        return path if path.is_file() and path.stat().st_size > 0 else None

    def write_manifest(self, clips: dict[str, dict[str, Any]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / MANIFEST
        tmp = path.with_suffix(".tmp")
        body = {"version": 1, "lang": self.lang, "clips": dict(sorted(clips.items()))}
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def expected(languages: Languages, lang: str, purposes: list[str] | None = None) -> dict[str, str]:
    """Every clip id the kiosk can play in ``lang`` and its current text."""
    table = languages.table(lang)
    own_missing = set(languages.missing.get(lang, ()))
    out: dict[str, str] = {}
    for it in all_items(purposes):
        if it["key"] in own_missing:  # shown (and spoken) in Vietnamese: the vi pack's clip
            continue
        text = spoken_text(table, it["key"], it["args"])
        if text is not None:
            out[clip_id(it["key"], it["args"])] = text
    return out


def check(languages: Languages, lang: str, purposes: list[str] | None = None) -> Report:
    pack = Pack(languages.root, lang)
    manifest = pack.manifest()
    report = Report(lang)
    want = expected(languages, lang, purposes)
    for cid, text in want.items():
        entry = manifest.get(cid)
        if entry is None or pack.clip_path(entry) is None:
            report.missing.append(cid)
        elif entry.get("text_sha256") != text_hash(text):
            report.stale.append(cid)
        else:
            report.ok.append(cid)
    report.unknown = sorted(set(manifest) - set(want))
    return report


def file_name(cid: str) -> str:
    return cid.replace("/", "_") + ".wav"


def scaffold(languages: Languages, lang: str, purposes: list[str] | None = None) -> Path:
    """Write the recording script for every missing or stale clip; returns the script's path."""
    pack = Pack(languages.root, lang)
    report = check(languages, lang, purposes)
    want = expected(languages, lang, purposes)
    manifest = pack.manifest()
    todo = report.missing + report.stale
    pack.folder.mkdir(parents=True, exist_ok=True)
    for cid in todo:
        old = manifest.get(cid)
        old_path = pack.clip_path(old) if old else None
        if old_path is not None:  # a stale recording must not pass for the new text
            os.replace(old_path, old_path.with_suffix(".stale" + old_path.suffix))
        name = str(old.get("file")) if old and old.get("file") else file_name(cid)
        manifest[cid] = {"file": name, "text_sha256": text_hash(want[cid]), "text": want[cid]}
    pack.write_manifest(manifest)
    lines = [
        f"# Recording script: {lang} ({len(todo)} clips to record)",
        "",
        "Record each line in a quiet room, mono, 16 bit, 22050 or 44100 Hz, about 0.3 s of",
        "silence before and after, at a calm pace. Save it under the file name shown, in this",
        "folder. Then run `appliance ui audio-pack check " + lang + "` (docs/audio-pack.md).",
        "",
        "| file | say |",
        "|---|---|",
    ]
    lines += [f"| `{manifest[cid]['file']}` | {want[cid]} |" for cid in todo]
    script = pack.folder / "script.md"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return script
