"""Names shared by the hub's modules and its CLI, importable without the ``hub`` extra (the
``appliance`` command lists ``hub`` on a kiosk image too, where SQLAlchemy is absent)."""

from __future__ import annotations

import re

ROLES = ("technician", "commander", "records")
# What each area of the hub needs; a route names its area and is refused to any other role.
AREAS: dict[str, tuple[str, ...]] = {
    "fleet": ("technician", "commander"),
    "devices": ("technician",),
    "campaign": ("commander",),
    "bundles": ("records",),
}
PROFILES = ("commune-kiosk", "tourist-gate", "field-kit", "sim")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
COMMUNE_RE = re.compile(r"^\d{5}$")  # the 5-digit commune (xã/phường) code
