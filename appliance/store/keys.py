"""Device signing keys (Ed25519) and office sealing keys (X25519).

* The **device key** is made at first start in ``<state_dir>/keys/`` (directory 0700, private key
  file 0600, public key 0644); the private key never leaves that file and is never logged. The
  office registers the device's public key at provisioning (``appliance keys device`` prints it).
* The **office key pair** is made once per office (``appliance keys office --out DIR``); only the
  public half goes to kiosks (``[store] office_public_key``), the private half stays at the office
  and is what ``appliance unseal`` needs.

A key's *id* (its fingerprint) is the first 16 bytes of SHA-256 over the raw 32-byte public key,
as 32 hex digits. Files are PEM (PKCS#8 private, SubjectPublicKeyInfo public).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from appliance.store.errors import KeyFileError
from appliance.store.files import write_file_durably

log = logging.getLogger(__name__)

KEYS_DIR = "keys"
DEVICE_PRIVATE = "device_ed25519.pem"
DEVICE_PUBLIC = "device_ed25519.pub"
OFFICE_PRIVATE = "office_x25519.pem"
OFFICE_PUBLIC = "office_x25519.pub"
DEMO_OFFICE_DIR = "demo-office-key"


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | X25519PublicKey | bytes) -> str:
    """The fingerprint of a public key: SHA-256 of its raw bytes, first 16 bytes, hex."""
    raw = key if isinstance(key, bytes) else raw_public(key)
    return hashlib.sha256(raw).digest()[:16].hex()


def _pem_private(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class DeviceKey:
    """This device's signing key."""

    private: Ed25519PrivateKey
    key_id: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_raw(self) -> bytes:
        return raw_public(self.public)

    def public_pem(self) -> str:
        return _pem_public(self.public).decode()

    def __repr__(self) -> str:  # never show key material
        return f"DeviceKey(key_id={self.key_id!r})"


def ensure_device_key(state_dir: str | Path) -> DeviceKey:
    """Load the device key from ``<state_dir>/keys``, creating it on first start."""
    keys = _private_dir(Path(state_dir) / KEYS_DIR)
    priv_path = keys / DEVICE_PRIVATE
    if priv_path.exists():
        key = load_private_key(priv_path, Ed25519PrivateKey)
        mode = priv_path.stat().st_mode & 0o777
        if mode != 0o600:
            os.chmod(priv_path, 0o600)
            log.warning("device key file had mode %o; set to 600", mode)
    else:
        key = Ed25519PrivateKey.generate()
        write_file_durably(priv_path, _pem_private(key), 0o600)
        log.info("device signing key created (key id %s)", key_id(key.public_key()))
    pub_path = keys / DEVICE_PUBLIC
    pub_pem = _pem_public(key.public_key())
    if not pub_path.exists() or pub_path.read_bytes() != pub_pem:
        write_file_durably(pub_path, pub_pem, 0o644)
    return DeviceKey(key, key_id(key.public_key()))


def generate_office_keypair(
    out_dir: str | Path, *, overwrite: bool = False
) -> tuple[Path, Path, str]:
    """Make an office X25519 key pair in ``out_dir``: (private path, public path, key id)."""
    out = _private_dir(Path(out_dir))
    priv_path, pub_path = out / OFFICE_PRIVATE, out / OFFICE_PUBLIC
    if priv_path.exists() and not overwrite:
        raise KeyFileError(f"{priv_path} already exists; refusing to replace an office key")
    key = X25519PrivateKey.generate()
    write_file_durably(priv_path, _pem_private(key), 0o600)
    write_file_durably(pub_path, _pem_public(key.public_key()), 0o644)
    return priv_path, pub_path, key_id(key.public_key())


def demo_office_public_key(state_dir: str | Path) -> Path:
    """For the simulator only: an office key pair kept in the state dir (so it protects nothing)."""
    folder = Path(state_dir) / DEMO_OFFICE_DIR
    if not (folder / OFFICE_PUBLIC).exists():
        _, _, kid = generate_office_keypair(folder, overwrite=True)
        log.warning("DEMO office key %s created in %s: sealed data is NOT protected", kid, folder)
    return folder / OFFICE_PUBLIC


def _read_key_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}") from None
    except IsADirectoryError:
        raise KeyFileError(f"key file is a directory: {path}") from None
    except PermissionError:
        raise KeyFileError(f"key file not readable (permission denied): {path}") from None


def load_private_key(path: str | Path, kind: type):
    """Load a PEM private key of the expected ``kind`` (Ed25519PrivateKey or X25519PrivateKey)."""
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, kind):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, expected {kind.__name__}")
    return key


def load_public_key(path: str | Path, kind: type):
    """Load a PEM public key of the expected ``kind``; a private key file yields its public half."""
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, AttributeError):
            raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, kind):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, expected {kind.__name__}")
    return key


def load_device_registry(folder: str | Path) -> dict[str, Ed25519PublicKey]:
    """Device public keys registered at the office: every ``*.pub``/``*.pem`` file in ``folder``.

    Returns ``{key_id: public key}``; file names do not matter, the key id is computed.
    """
    path = Path(folder)
    if not path.is_dir():
        raise KeyFileError(f"devices folder not found: {folder}")
    registry: dict[str, Ed25519PublicKey] = {}
    for file in sorted(path.iterdir()):
        if file.suffix not in (".pub", ".pem") or not file.is_file():
            continue
        try:
            key = serialization.load_pem_public_key(file.read_bytes())
        except (ValueError, TypeError):
            log.warning("devices folder: %s is not a PEM public key; skipped", file.name)
            continue
        if isinstance(key, Ed25519PublicKey):
            registry[key_id(key)] = key
    return registry
