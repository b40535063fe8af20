"""One exception tree for the whole appliance.

Every error the appliance raises on purpose derives from :class:`ApplianceError` and carries a
machine-readable ``code`` and a human ``message``. Leaf classes also inherit a builtin
(``ValueError``, ``OSError``, ``TimeoutError``) so generic handlers keep working.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of every deliberate appliance error."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object used by every CLI and API response."""
        return {"code": self.code, "message": self.message}


class ConfigError(ApplianceError):
    """A config file is missing, unreadable, not TOML, or fails validation."""

    code = "config"

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ": ".join(p for p in (file, key) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key


class InvalidInput(ApplianceError, ValueError):
    """Input from outside (a QR payload, an MRZ, a file, a CLI argument) is not acceptable."""

    code = "invalid_input"


class DeviceError(ApplianceError, OSError):
    """A device failed, answered wrongly or is not there."""

    code = "device_error"


class DeviceUnavailable(DeviceError):
    """A device cannot be opened (absent, unplugged, permission, missing driver library)."""

    code = "unavailable"


class BackendMissing(DeviceUnavailable):
    """The library a backend needs is not installed; the message says what to install."""

    code = "backend_missing"


class DeviceTimeout(DeviceError, TimeoutError):
    """A device did not answer in time."""

    code = "timeout"


class ProtocolError(DeviceError):
    """A device sent bytes that do not follow its protocol (bad checksum, bad header, bad MAC)."""

    code = "protocol"


class OperationTimeout(ApplianceError, TimeoutError):
    """A non-device operation (a workflow step, an upload) ran out of time."""

    code = "timeout"
