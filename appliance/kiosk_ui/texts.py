"""The translation tables (``i18n/vi.json``, ``i18n/en.json``) and the consent text's hash.

The consent screen shows ``consent.intro`` and one ``consent.purpose.<p>`` per purpose; what was
shown is identified by the SHA-256 of a canonical JSON of exactly those strings, the version and
the language, so a consent record can later be matched to the words the citizen read.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

I18N_DIR = Path(__file__).resolve().parent / "i18n"
LANGUAGES = ("vi", "en")


def table(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:  # a language pack (Vietnamese where it has no text), else ValueError
        from appliance.kiosk_ui.languages import current

        return current().table(lang)
    return _builtin(lang)


@functools.cache
def _builtin(lang: str) -> dict[str, str]:
    with (I18N_DIR / f"{lang}.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def consent_document(lang: str, purposes: list[str], version: str) -> dict[str, Any]:
    t = table(lang)
    return {
        "version": version,
        "language": lang,
        "title": t["consent.title"],
        "intro": t["consent.intro"],
        "purposes": {p: t[f"consent.purpose.{p}"] for p in purposes},
        "note": t["consent.note"],
    }


def consent_hash(lang: str, purposes: list[str], version: str) -> str:
    doc = consent_document(lang, purposes, version)
    canonical = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_ui_texts(purposes: list[str], language: str) -> None:
    """Every configured purpose has its text in every language (raises ConfigError)."""
    if language not in LANGUAGES:
        raise ConfigError(f"must be one of {', '.join(LANGUAGES)}", key="ui.language")
    if not purposes:
        raise ConfigError("at least one consent purpose is needed", key="ui.consent_purposes")
    for lang in LANGUAGES:
        missing = [p for p in purposes if f"consent.purpose.{p}" not in table(lang)]
        if missing:
            raise ConfigError(
                f"no {lang} text for purpose(s) {', '.join(missing)} in kiosk_ui/i18n/{lang}.json",
                key="ui.consent_purposes",
            )
