"""The kiosk's languages: the built-in tables plus language packs, with key-by-key fallback.

Vietnamese and English are built in (``i18n/vi.json``, ``i18n/en.json``, plus the live guidance
texts of :mod:`appliance.pipeline.face_guidance` and :mod:`appliance.pipeline.finger_quality` as
``guidance.face.<code>`` / ``guidance.finger.<code>``). Any other language is a *pack*, a folder
``<packs_dir>/<code>/`` holding ``text.json`` (flat ``key: text``, same keys as ``vi.json``) and
optionally ``audio/`` (recorded clips, :mod:`appliance.kiosk_ui.audio_pack`). A pack may be
incomplete: every key it lacks falls back to Vietnamese, one log line per language lists how
many. ``vi/audio`` or ``en/audio`` alone adds recordings to a built-in language.

Nothing here translates: a pack is written by people who speak the language (docs/audio-pack.md).
:func:`pseudo_table` makes the pseudo-locale the clipping test uses (long accented strings).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

I18N_DIR = Path(__file__).resolve().parent / "i18n"
PACKS_DIR = Path(__file__).resolve().parent / "packs"
BUILTIN = ("vi", "en")
FALLBACK = "vi"
CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8}){0,2}$")  # BCP 47-like, lower case: hmn, tay, en-xa
MAX_TEXT = 2000  # characters per entry; a pack is outside input
PARAM = re.compile(r"\{(\w+)\}")


class PackError(ValueError):
    """A language pack that cannot be used (bad code, unreadable or malformed text.json)."""


@functools.cache
def builtin_table(lang: str) -> dict[str, str]:
    """A built-in language's table, with the live guidance texts as ``guidance.*`` keys."""
    if lang not in BUILTIN:
        raise ValueError(f"not a built-in language: {lang!r}")
    from appliance.pipeline.face_guidance import CAPTURED, GUIDANCE, HOLD_STILL
    from appliance.pipeline.finger_quality import INSTRUCTIONS

    with (I18N_DIR / f"{lang}.json").open(encoding="utf-8") as fh:
        out: dict[str, str] = json.load(fh)
    for code, texts in GUIDANCE.items():
        out.setdefault(f"guidance.face.{code}", texts[lang])
    for code, texts in INSTRUCTIONS.items():
        out.setdefault(f"guidance.finger.{code}", texts[lang])
    out.setdefault("guidance.face.hold_still", HOLD_STILL[lang])
    out.setdefault("guidance.face.captured", CAPTURED[lang])
    return out


def read_pack_text(path: Path) -> dict[str, str]:
    """A pack's ``text.json``: a flat object of strings (raises PackError)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(f"{path}: expected an object of key: text")
    bad = [k for k, v in data.items() if not isinstance(v, str) or len(v) > MAX_TEXT]
    if bad:
        raise PackError(f"{path}: not a string (or over {MAX_TEXT} characters): {bad[:5]}")
    return data


class Languages:
    """The languages present under ``root`` (packs) and the built-in ones."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else PACKS_DIR
        self._tables: dict[str, dict[str, str]] = {}
        self.missing: dict[str, list[str]] = {}
        self.codes: list[str] = list(BUILTIN)
        self.errors: dict[str, str] = {}
        for folder in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            code = folder.name
            if not folder.is_dir() or code in BUILTIN or code.startswith("."):
                continue
            if not CODE.match(code):
                self.errors[code] = "not a language code (a-z, 2-3 letters, optional -subtags)"
            elif not (folder / "text.json").is_file():
                self.errors[code] = "no text.json"
            else:
                try:
                    self._load(code, read_pack_text(folder / "text.json"))
                except PackError as exc:
                    self.errors[code] = str(exc)
        for code, why in self.errors.items():
            log.warning("language pack %s ignored: %s", code, why)

    def _load(self, code: str, own: dict[str, str]) -> None:
        base = builtin_table(FALLBACK)
        merged = {k: own.get(k) or base[k] for k in base}  # pack keys unknown to vi are dropped
        self.missing[code] = sorted(k for k in base if not own.get(k))
        if self.missing[code]:
            log.info(
                "language %s: %d of %d texts missing, shown in Vietnamese (%s%s)",
                code,
                len(self.missing[code]),
                len(base),
                ", ".join(self.missing[code][:5]),
                ", ..." if len(self.missing[code]) > 5 else "",
            )
        self._tables[code] = merged
        self.codes.append(code)

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def table(self, code: str) -> dict[str, str]:
        """The full table of ``code`` (pack texts, Vietnamese where the pack has none)."""
        if code in BUILTIN:
            return builtin_table(code)
        if code not in self._tables:
            raise ValueError(f"unknown language {code!r}")
        return self._tables[code]

    def names(self) -> dict[str, str]:
        """Each language's own name (``lang.name``), for the language chooser."""
        return {c: self.table(c).get("lang.name", c) for c in self.codes}

    def completeness(self) -> dict[str, dict[str, Any]]:
        """Per language: how many texts are its own and which fall back to Vietnamese."""
        total = len(builtin_table(FALLBACK))
        out: dict[str, dict[str, Any]] = {}
        for code in self.codes:
            if code in BUILTIN:
                own = builtin_table(code)
                missing = sorted(k for k in builtin_table(FALLBACK) if not own.get(k))
            else:
                missing = self.missing[code]
            out[code] = {
                "texts": total,
                "translated": total - len(missing),
                "ratio": round((total - len(missing)) / total, 4),
                "missing": missing,
            }
        return out


_current = Languages(None)


def install(root: Path | str | None) -> Languages:
    """Load the packs under ``root`` (``[ui] packs_dir``) as the kiosk's languages."""
    global _current
    _current = Languages(root)
    return _current


def current() -> Languages:
    return _current


# --- the pseudo-locale --------------------------------------------------------------------------

_ACCENTED = str.maketrans(
    "aAeEiIoOuUyYcCnNdD",
    "ằẰếẾịỊỗỖữỮỹỸçÇñÑđĐ",
)


def pseudo_text(text: str, grow: float = 0.4) -> str:
    """``text`` accented, about 40% longer and bracketed; ``{params}`` stay as they are."""
    parts = PARAM.split(text)
    out = []
    for i, part in enumerate(parts):
        out.append("{" + part + "}" if i % 2 else part.translate(_ACCENTED))
    body = "".join(out)
    pad = max(2, int(len(text) * grow))
    filler = ("ẫ" + "ệ" * 4 + " ") * (pad // 6 + 1)
    return f"⟦{body} {filler[:pad].strip()}⟧"


def pseudo_table(source: str = "en") -> dict[str, str]:
    """The pseudo-locale: every built-in text of ``source`` through :func:`pseudo_text`."""
    table = {k: pseudo_text(v) for k, v in builtin_table(source).items()}
    table["lang.name"] = "⟦Pseudo⟧"
    return table
