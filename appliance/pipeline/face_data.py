"""Where the real face research photographs are, and how they are split (test machinery).

They live outside the repository, in ``../shared/data/faces`` beside the work tree (or
``$APPLIANCE_FACES_DIR``), and are never copied into it, an image or a shipped model's training
set. People whose number is a multiple of 4 (p004, p008, ...) are for final measurement only:
nothing is tuned or chosen on them, and their figures are reported separately.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]


def faces_dir() -> Path | None:
    """The data folder, or None when it is absent."""
    env = os.environ.get("APPLIANCE_FACES_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "data" / "faces"
    return path if path.is_dir() else None


def require_faces_dir() -> Path:
    path = faces_dir()
    if path is None:
        raise InvalidInput(
            "the face research photographs are absent (../shared/data/faces or "
            "$APPLIANCE_FACES_DIR)"
        )
    return path


def is_final(person: str) -> bool:
    """``p004``, ``p008``, ...: final-measurement people."""
    return int(person.lstrip("p")) % 4 == 0


def identities(root: Path, final: bool | None = None) -> dict[str, list[Path]]:
    """person -> sorted photos; ``final`` True/False keeps only that split, None keeps all."""
    out = {}
    for person in sorted(p for p in (root / "identities").iterdir() if p.is_dir()):
        if final is None or is_final(person.name) == final:
            out[person.name] = sorted(person.glob("*.jpg"))
    return out
