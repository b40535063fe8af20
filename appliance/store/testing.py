"""Helpers for tests and the benchmark: office keys, sample images, a store in a folder.

Not used by the running appliance.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from appliance.config import StoreConfig
from appliance.store.keys import generate_office_keypair, load_private_key

PORTRAIT_BYTES = 50 * 1024
FINGER_BYTES = 70 * 1024
CONSENT_TEXT = "Tôi đồng ý cho thu thập ảnh chân dung và vân tay để cấp thẻ căn cước."
CONSENT_HASH = hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sample_images(
    portrait_bytes: int = PORTRAIT_BYTES, finger_bytes: int = FINGER_BYTES
) -> tuple[bytes, dict[str, bytes]]:
    """A portrait and two fingerprint images: random bytes behind JPEG/PNG magic numbers."""
    portrait = JPEG_MAGIC + os.urandom(portrait_bytes - len(JPEG_MAGIC))
    fingers = {
        "right_index": PNG_MAGIC + os.urandom(finger_bytes - len(PNG_MAGIC)),
        "left_index": PNG_MAGIC + os.urandom(finger_bytes - len(PNG_MAGIC)),
    }
    return portrait, fingers


def office_keys(folder: str | Path) -> tuple[X25519PrivateKey, Path]:
    """Make an office key pair in ``folder``; returns (private key, public key file)."""
    priv_path, pub_path, _ = generate_office_keypair(folder)
    return load_private_key(priv_path, X25519PrivateKey), pub_path


def store_config(**overrides: Any) -> StoreConfig:
    return StoreConfig(**overrides)
