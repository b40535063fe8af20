"""Typed errors of the store; each ``code`` is part of the CLI and API contract.

Bundle errors (``unseal``) derive from :class:`~appliance.errors.InvalidInput`: a bundle that
cannot be opened is bad input to the office side (exit 2), never a crash.
"""

from __future__ import annotations

from appliance.errors import ApplianceError, InvalidInput


class StoreError(ApplianceError):
    """The database cannot be opened, migrated or written."""

    code = "store"


class OfficeKeyMissing(StoreError):
    """No office public key is configured, so nothing can be sealed (and nothing is stored)."""

    code = "office_key_missing"


class ConsentError(InvalidInput):
    """A capture without valid consent, or a consent record that is not acceptable."""

    code = "consent"


class RecordRejected(InvalidInput):
    """A record would put personal data in clear where the store does not allow it."""

    code = "record_rejected"


class KeyFileError(InvalidInput):
    """A key file is missing, unreadable or not the expected kind of key."""

    code = "bad_key"


class BundleError(InvalidInput):
    """Base of every reason a sealed bundle is refused."""

    code = "bundle"


class BundleMalformed(BundleError):
    """Not a sealed bundle, truncated, or an unknown format version."""

    code = "bundle_malformed"


class BundleTampered(BundleError):
    """The device signature does not match the bytes: the bundle was altered or damaged."""

    code = "bundle_tampered"


class UnknownDevice(BundleError):
    """The bundle is signed by a device key the office has not registered."""

    code = "unknown_device"


class WrongRecipient(BundleError):
    """The bundle is sealed to another office key (or cannot be decrypted with this one)."""

    code = "wrong_key"


class UploadError(StoreError):
    """One upload attempt failed; ``retry`` says whether trying again later can help."""

    code = "upload"

    def __init__(
        self,
        message: str,
        *,
        retry: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.status = status
        self.retry_after = retry_after
