"""Typed errors of the hub; each ``code`` is part of its HTTP API and CLI contract."""

from __future__ import annotations

from appliance.errors import ApplianceError, InvalidInput


class HubError(ApplianceError):
    code = "hub"


class RefusedBundle(InvalidInput):
    """An upload the hub will not keep; ``status`` is the HTTP answer (422 unless said)."""

    code = "bundle_refused"

    def __init__(self, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message, code=code)
        self.status = status


class DeviceRefused(ApplianceError):
    """No, an unknown or a revoked device token (HTTP 401/403)."""

    code = "device_refused"

    def __init__(self, message: str, *, code: str = "device_refused", status: int = 403) -> None:
        super().__init__(message, code=code)
        self.status = status


class NotFound(InvalidInput):
    code = "not_found"


class AuthError(ApplianceError):
    """Login failed, session missing or expired, wrong role, bad CSRF token."""

    code = "forbidden"

    def __init__(self, message: str, *, code: str = "forbidden", status: int = 403) -> None:
        super().__init__(message, code=code)
        self.status = status
