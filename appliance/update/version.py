"""Release versions: ``MAJOR.MINOR.PATCH`` with an optional pre-release (``0.3.0rc1``,
``0.3.0-rc.1``) that sorts before the release. Anything else is refused, never guessed."""

from __future__ import annotations

import re
from functools import total_ordering

from appliance.update.errors import UpdateRefused

_VERSION = re.compile(r"^(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?:[-.]?(a|b|rc|dev)\.?(\d{1,6}))?$")
_PRE_ORDER = {"dev": 0, "a": 1, "b": 2, "rc": 3}


@total_ordering
class Version:
    """A parsed release version; compares numerically (``0.10.0`` > ``0.9.9``)."""

    def __init__(self, text: str) -> None:
        m = _VERSION.match(text.strip()) if isinstance(text, str) else None
        if not m:
            raise UpdateRefused(f"not a release version: {text!r}", code="bad_version")
        major, minor, patch, pre, pre_n = m.groups()
        self.text = text.strip()
        release = (int(major), int(minor), int(patch or 0))
        # A release sorts after all its pre-releases: (4, 0) is above every (0..3, n).
        self.key = release + ((_PRE_ORDER[pre], int(pre_n)) if pre else (4, 0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def check_upgrade(running: str, offered: str, *, allow_downgrade: bool = False) -> str:
    """``"upgrade"`` or ``"downgrade"`` (when allowed); refuses the same or a lower version."""
    old, new = Version(running), Version(offered)
    if new == old:
        raise UpdateRefused(f"version {new} is already running", code="same_version")
    if new < old:
        if not allow_downgrade:
            raise UpdateRefused(
                f"version {new} is older than the running {old}; a technician can pass "
                "--allow-downgrade",
                code="downgrade",
            )
        return "downgrade"
    return "upgrade"
