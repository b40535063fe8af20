"""Spoken guidance: a speech item (key + args) to WAV, from the audio pack or eSpeak NG.

The page asks ``GET /speech?lang=L&key=K&<arg>=<value>...`` (token route, loopback only) for each
item of a screen's ``speech`` list (:mod:`appliance.pipeline.workflows.speech_keys`). The answer is
the first of:

1. the language's recorded clip for the item, if its manifest hash matches the current text
   (a stale clip says old words: it is not played);
2. eSpeak NG in the language's voice (``vi``, ``en``; a pack names its voice in ``lang.voice``),
   rendered on the kiosk once per text and cached by the text's hash;
3. the Vietnamese clip or rendering of the Vietnamese text, when the language has no voice.

No network: eSpeak NG is a Debian package (``espeak-ng``) with a Vietnamese voice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError
from appliance.kiosk_ui.languages import FALLBACK, PARAM, Languages

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
VOICES = {"vi": "vi", "en": "en-gb"}  # eSpeak NG voice per built-in language
RATE_WPM = 145  # a little slower than eSpeak's 175: elderly listeners
RENDER_TIMEOUT_S = 15.0
MAX_TEXT = 600
ARG_VALUE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class SpeechError(ApplianceError):
    code = "speech_unavailable"


@dataclass(frozen=True, slots=True)
class Spoken:
    """What to play: a WAV file and where it came from (``clip`` or ``espeak``)."""

    path: Path
    source: str
    lang: str
    text: str


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def text_hash(text: str) -> str:
    """The hash a clip is recorded for (NFC, whitespace collapsed)."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def clip_id(key: str, args: dict[str, str] | None = None) -> str:
    """The clip name of an item: ``key``, or ``key+value+...`` with args in name order."""
    if not args:
        return key
    return "+".join([key, *(str(args[k]) for k in sorted(args))])


def spoken_text(table: dict[str, str], key: str, args: dict[str, str] | None = None) -> str | None:
    """The text of an item in ``table`` (arg values that are keys are translated), or None."""
    if key not in table:
        return None
    values = {k: table.get(v, v) for k, v in (args or {}).items()}
    text = PARAM.sub(lambda m: values.get(m.group(1), ""), table[key])
    return normalise(text.replace("✓", "").replace("…", "."))


def speakable(text: str) -> str:
    """Spoken form: drop bracket and symbol clutter eSpeak would spell out."""
    return normalise(re.sub(r"[⟦⟧✓✗·•]", " ", text))


class Speaker:
    """Renders and caches speech; ``packs`` are the :class:`Languages` and their audio folders."""

    def __init__(self, languages: Languages, cache_dir: Path, espeak: str = ESPEAK) -> None:
        self.languages = languages
        self.cache_dir = Path(cache_dir)
        self.espeak = shutil.which(espeak)
        self._voices: dict[str, bool] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def available(self) -> bool:
        return self.espeak is not None

    def voice(self, lang: str) -> str | None:
        """The eSpeak NG voice of ``lang`` (None: eSpeak has none, or is not installed)."""
        if not self.espeak:
            return None
        name = VOICES.get(lang) or self.languages.table(lang).get("lang.voice") or lang
        if name not in self._voices:
            try:
                out = subprocess.run(
                    [self.espeak, f"--voices={name.split('-')[0]}"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            self._voices[name] = any(
                line.split()[1:2] == [name] for line in out.splitlines()[1:] if line.split()
            )
        return name if self._voices[name] else None

    def clip(self, lang: str, cid: str, text: str) -> Path | None:
        """The recorded clip of ``cid`` in ``lang`` if it was recorded for ``text``."""
        from appliance.kiosk_ui.audio_pack import Pack

        pack = Pack(self.languages.root, lang)
        entry = pack.entry(cid)
        if entry is None or entry.get("text_sha256") != text_hash(text):
            return None
        return pack.clip_path(entry)

    async def speak(self, lang: str, key: str, args: dict[str, str] | None = None) -> Spoken:
        """The WAV for one item (raises SpeechError, ValueError for an unknown key/language)."""
        if lang not in self.languages:
            raise ValueError(f"unknown language {lang!r}")
        for name, value in (args or {}).items():
            if not (ARG_VALUE.match(name) and ARG_VALUE.match(str(value))):
                raise ValueError("bad speech argument")
        table = self.languages.table(lang)
        for value in (args or {}).values():  # a finite set: keys (finger names) or small numbers
            if str(value) not in table and not (str(value).isdigit() and len(str(value)) <= 4):
                raise ValueError("a speech argument is a translation key or a number")
        cid = clip_id(key, args)
        fallback_text = key in self.languages.missing.get(lang, ())  # shown in Vietnamese
        tried = [FALLBACK] if lang == FALLBACK or fallback_text else [lang, FALLBACK]
        for which in tried:
            text = spoken_text(self.languages.table(which), key, args)
            if text is None:
                raise ValueError(f"no text for key {key!r}")
            path = self.clip(which, cid, text)
            if path is not None:
                return Spoken(path, "clip", which, text)
            voice = self.voice(which)
            if voice is not None:
                return Spoken(await self.render(speakable(text), voice), "espeak", which, text)
            log.info("no voice for %s: %s spoken in Vietnamese", which, key)
        raise SpeechError("eSpeak NG is not installed (apt install espeak-ng) and no clip")

    async def render(self, text: str, voice: str) -> Path:
        """``text`` in ``voice`` as WAV, cached under the hash of (voice, rate, text)."""
        text = text[:MAX_TEXT]
        digest = hashlib.sha256(f"{voice}\n{RATE_WPM}\n{text}".encode()).hexdigest()
        path = self.cache_dir / f"{digest[:32]}.wav"
        if path.is_file():
            return path
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if not path.is_file():
                await asyncio.to_thread(self._render_to, path, text, voice)
        self._locks.pop(digest, None)
        return path

    def _render_to(self, path: Path, text: str, voice: str) -> None:
        assert self.espeak
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            proc = subprocess.run(
                [self.espeak, "-v", voice, "-s", str(RATE_WPM), "-w", str(tmp), "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=RENDER_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            tmp.unlink(missing_ok=True)
            raise SpeechError(f"eSpeak NG failed: {exc}") from None
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size < 64:
            tmp.unlink(missing_ok=True)
            err = proc.stderr.decode(errors="replace").strip()[:200]
            raise SpeechError(f"eSpeak NG failed ({proc.returncode}): {err}")
        os.replace(tmp, path)
