"""The SecurityInfos the reader acts on (EF.CardAccess, DG14; ICAO 9303-11 section 9.2).

* ``PACEInfo``: protocol OID, version, parameter ID (EF.CardAccess).
* ``ChipAuthenticationInfo``: CA protocol OID (``0.4.0.127.0.7.2.2.3.x.y``), version, key ID.
* ``ChipAuthenticationPublicKeyInfo``: ``id-PK-ECDH`` / ``id-PK-DH``, the chip's static public
  key (SubjectPublicKeyInfo), key ID (DG14).

Also the builders the emulator's personalisation uses. Parsing raises :class:`LdsError` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.icao import lds, tlv
from appliance.icao.errors import LdsError
from appliance.icao.keys import PublicKey, load_public_key
from appliance.icao.pace import CIPHERS, OID_PACE, PaceInfo, oid_bytes

OID_CA = "0.4.0.127.0.7.2.2.3"
OID_PK_DH, OID_PK_ECDH = "0.4.0.127.0.7.2.2.1.1", "0.4.0.127.0.7.2.2.1.2"
CA_AGREEMENT = {"1": "DH", "2": "ECDH"}


@dataclass(frozen=True, slots=True)
class CaInfo:
    oid: str
    version: int
    key_id: int | None

    @property
    def agreement(self) -> str:
        return CA_AGREEMENT.get(self.oid.split(".")[-2], "?")

    @property
    def cipher(self) -> tuple[str, int]:
        return CIPHERS.get(self.oid.split(".")[-1], ("?", 0))


@dataclass(frozen=True)
class CaKey:
    key: PublicKey | None
    key_id: int | None
    agreement: str  # "ECDH" | "DH"


@dataclass
class ChipInfos:
    pace: list[PaceInfo] = field(default_factory=list)
    ca: list[CaInfo] = field(default_factory=list)
    ca_keys: list[CaKey] = field(default_factory=list)

    def ca_pair(self) -> tuple[CaInfo, CaKey] | None:
        """The CA protocol and key to use: ECDH, matching key IDs (or both without one)."""
        for info in self.ca:
            if info.agreement != "ECDH" or info.cipher[1] == 0:
                continue
            for key in self.ca_keys:
                if key.agreement != "ECDH" or not isinstance(key.key, ec.EllipticCurvePublicKey):
                    continue
                if info.key_id is None or key.key_id is None or info.key_id == key.key_id:
                    return info, key
        return None


def _int(value: core.Asn1Value) -> int:
    parsed = core.Integer.load(value.dump()).native
    if not isinstance(parsed, int) or not 0 <= parsed < 2**31:
        raise LdsError("SecurityInfo integer out of range")
    return parsed


def parse_chip_infos(der: bytes) -> ChipInfos:
    """The PACE and chip authentication infos of a SecurityInfos SET (unknown ones skipped)."""
    out = ChipInfos()
    try:
        infos = lds.SecurityInfos.load(der)
        for info in infos:
            oid = info["protocol"].dotted
            optional = info["optional_data"]
            has_optional = optional is not None and optional.contents is not None
            if oid.startswith(OID_PACE + ".") and oid.count(".") == 10:
                pid = _int(optional) if has_optional else None
                out.pace.append(PaceInfo(oid, _int(info["required_data"]), pid))
            elif oid.startswith(OID_CA + ".") and oid.count(".") == 10:
                key_id = _int(optional) if has_optional else None
                out.ca.append(CaInfo(oid, _int(info["required_data"]), key_id))
            elif oid in (OID_PK_DH, OID_PK_ECDH):
                key_id = _int(optional) if has_optional else None
                try:
                    key = load_public_key(info["required_data"].dump())
                except LdsError:
                    key = None  # a DH key, or an unusable one: CA is then not possible
                agreement = "ECDH" if oid == OID_PK_ECDH else "DH"
                out.ca_keys.append(CaKey(key, key_id, agreement))
    except LdsError:
        raise
    except Exception as exc:  # asn1crypto parses lazily: any malformed piece
        raise LdsError(f"malformed SecurityInfos: {type(exc).__name__}") from None
    return out


# --- builders (personalisation) -----------------------------------------------------------------


def _seq(*items: bytes) -> bytes:
    return tlv.encode(0x30, b"".join(items))


def _int_der(value: int) -> bytes:
    return core.Integer(value).dump()


def _oid_der(oid: str) -> bytes:
    return tlv.encode(0x06, oid_bytes(oid))


def pace_info_der(oid: str, parameter_id: int) -> bytes:
    return _seq(_oid_der(oid), _int_der(2), _int_der(parameter_id))


def ca_infos_der(ca_key: ec.EllipticCurvePrivateKey, key_id: int = 1, cipher: str = "2") -> bytes:
    """ChipAuthenticationInfo (ECDH, AES-128 by default) and its public key info."""
    spki = ca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = _seq(_oid_der(f"{OID_CA}.2.{cipher}"), _int_der(1), _int_der(key_id))
    key = _seq(_oid_der(OID_PK_ECDH), spki, _int_der(key_id))
    return info + key
