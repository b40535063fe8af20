"""Typed update errors: refusals (exit 2, nothing changed) and failures (exit 1)."""

from __future__ import annotations

from appliance.errors import ApplianceError, InvalidInput


class UpdateRefused(InvalidInput):
    """A bundle or manifest is not acceptable; nothing was changed.

    Codes: ``unsigned``, ``foreign_key``, ``tampered``, ``bad_bundle``, ``incompatible``,
    ``downgrade``, ``same_version``, ``bad_manifest``, ``wrong_channel``, ``checksum``.
    """

    code = "refused"


class UpdateBusy(ApplianceError):
    """The kiosk is serving a citizen (or the service did not answer); try again later."""

    code = "busy"


class UpdateFailed(ApplianceError):
    """RAUC, the download or the boot loader failed."""

    code = "update_failed"
