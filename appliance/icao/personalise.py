"""Personalise an emulated CCCD chip from an identity and a face photo (test and demo only).

Builds EF.COM, DG1 (the TD1 MRZ of :mod:`appliance.cccd.mrz`), DG2 (the photo in an ISO/IEC
19794-5 record), DG3 (a placeholder the chip protects with 6982, as EAC does), DG13 (the
Vietnamese fields by item number, DOMAIN.md table), DG14 (for ECDSA active authentication),
DG15 (the active authentication key) and EF.SOD signed by the Document Signer of a
:class:`~appliance.icao.pki.TestPki`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms, core
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from appliance.cccd.bac import BacKeys, bac_keys
from appliance.cccd.expiry import expiry_date
from appliance.cccd.mrz import td1_from_identity, yymmdd
from appliance.errors import InvalidInput
from appliance.icao import tlv
from appliance.icao.lds import (
    FILES,
    OID_AA_INFO,
    OID_LDS_SECURITY_OBJECT,
    LdsSecurityObject,
    image_format,
)
from appliance.icao.pki import PrivateKey, TestPki
from appliance.icao.secinfo import OID_CA, ca_infos_der, pace_info_der

OID_DG13 = "1.0.10646.1.0.8"
OID_ECDSA_PLAIN_SHA256 = "0.4.0.127.0.7.1.1.4.1.3"
OID_PACE_ECDH_GM_AES128 = "0.4.0.127.0.7.2.2.4.2.2"
NO_EXPIRY_TEXT = "Không thời hạn"
AA_KINDS = ("rsa", "ec", "none")


@dataclass
class ChipImage:
    """Everything an emulated chip holds."""

    files: dict[str, bytes]  # "COM", "SOD", "DG1", ... -> file contents
    document_number: str
    date_of_birth: str  # YYMMDD
    date_of_expiry: str  # YYMMDD
    aa_key: PrivateKey | None = None
    aa_hash: str = "sha256"  # ECDSA active authentication
    ca_key: ec.EllipticCurvePrivateKey | None = None  # chip authentication (DG14)
    ca_oid: str | None = None  # its protocol (ECDH, AES-128 or 3DES)
    protected: set[str] = field(default_factory=lambda: {"DG3"})  # 6982 without EAC

    @property
    def bac(self) -> BacKeys:
        return bac_keys(self.document_number, self.date_of_birth, self.date_of_expiry)

    def bac_input(self) -> tuple[str, str, str]:
        return self.document_number, self.date_of_birth, self.date_of_expiry

    def with_file(self, name: str, content: bytes) -> ChipImage:
        """A copy with one file replaced (tests use it to tamper with a card)."""
        return replace(self, files={**self.files, name: content})


# --- building blocks --------------------------------------------------------------------------


def _seq(*items: bytes) -> bytes:
    return tlv.encode(0x30, b"".join(items))


def _int(value: int) -> bytes:
    return core.Integer(value).dump()


def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def _utf8(text: str) -> bytes:
    return tlv.encode(0x0C, text.encode("utf-8"))


def _printable(text: str) -> bytes:
    return tlv.encode(0x13, text.encode("ascii"))


def _dmy(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def _date(identity: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(identity[key]))
    except (KeyError, ValueError):
        raise InvalidInput(f"identity needs {key} as YYYY-MM-DD") from None


def build_com(dgs: list[int]) -> bytes:
    tags = bytes(FILES[f"DG{n}"].tag for n in dgs)  # type: ignore[misc]
    return tlv.encode(
        0x60,
        tlv.encode(0x5F01, b"0107") + tlv.encode(0x5F36, b"040000") + tlv.encode(0x5C, tags),
    )


def build_dg1(mrz: str) -> bytes:
    return tlv.encode(0x61, tlv.encode(0x5F1F, mrz.replace("\n", "").encode("ascii")))


def photo_size(photo: bytes) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(photo)) as img:
            return img.size
    except Exception:  # a JPEG 2000 without Pillow's codec: size unknown, still valid
        return 0, 0


def as_face_image(photo: bytes) -> bytes:
    """JPEG and JPEG 2000 go in as they are; anything Pillow reads becomes a JPEG."""
    if image_format(photo):
        return photo
    from PIL import Image

    try:
        with Image.open(io.BytesIO(photo)) as img:
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=90)
            return out.getvalue()
    except Exception:
        raise InvalidInput(
            "the photo is not an image (JPEG, JPEG 2000 or what Pillow reads)"
        ) from None


def build_dg2(photo: bytes, sex: str | None = None) -> bytes:
    """DG2 with one ISO/IEC 19794-5 facial record holding ``photo`` (JPEG or JPEG 2000)."""
    image = as_face_image(photo)
    width, height = photo_size(image)
    data_type = 0 if image_format(image) == "jpeg" else 1
    gender = {"male": 1, "female": 2}.get(sex or "", 0)
    facial = (
        bytes(2)  # feature points
        + bytes([gender, 0, 0])  # gender, eye colour, hair colour
        + bytes(3)  # property mask
        + bytes(2)  # expression
        + bytes(6)  # pose angles and their uncertainty
    )
    info = bytes([1, data_type]) + width.to_bytes(2, "big") + height.to_bytes(2, "big")
    info += bytes([1, 2]) + bytes(4)  # colour space, source type, device type, quality
    block = 4 + len(facial) + len(info) + len(image)
    record = (
        b"FAC\x00010\x00"
        + (14 + block).to_bytes(4, "big")
        + (1).to_bytes(2, "big")
        + block.to_bytes(4, "big")
        + facial
        + info
        + image
    )
    header = (
        tlv.encode(0x80, b"\x01\x01")
        + tlv.encode(0x81, b"\x02")
        + tlv.encode(0x87, b"\x01\x01")
        + tlv.encode(0x88, b"\x00\x08")
    )
    template = tlv.encode(0x7F60, tlv.encode(0xA1, header) + tlv.encode(0x5F2E, record))
    return tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x01") + template))


def build_dg13(identity: dict[str, Any]) -> bytes:
    """DG13 from an identity dict: ``SEQUENCE { INTEGER 1, OID, SET { SEQUENCE {n, v} } }``."""
    items: list[tuple[int, bytes]] = []

    def text(n: int, key: str, printable: bool = False) -> None:
        value = identity.get(key)
        if value:
            items.append((n, _printable(str(value)) if printable else _utf8(str(value))))

    text(1, "id_number", printable=True)
    text(2, "full_name")
    if identity.get("date_of_birth"):
        items.append((3, _utf8(_dmy(identity["date_of_birth"]))))
    if identity.get("sex") in ("male", "female"):
        items.append((4, _utf8("Nam" if identity["sex"] == "male" else "Nữ")))
    for n, key in ((5, "nationality"), (6, "ethnicity"), (7, "religion")):
        text(n, key)
    text(8, "place_of_origin")
    text(9, "address")
    text(10, "identifying_features")
    if identity.get("issue_date"):
        items.append((11, _utf8(_dmy(identity["issue_date"]))))
        if identity.get("date_of_birth"):
            doe = expiry_date(_date(identity, "date_of_birth"), _date(identity, "issue_date"))
            items.append((12, _utf8(doe.strftime("%d/%m/%Y") if doe else NO_EXPIRY_TEXT)))
    if identity.get("father_name") or identity.get("mother_name"):
        parents = _utf8(identity.get("father_name") or "") + _utf8(
            identity.get("mother_name") or ""
        )
        items.append((13, tlv.encode(0x30, parents)))
    if identity.get("spouse_name"):
        items.append((14, _seq(_utf8(identity["spouse_name"]))))
    text(15, "old_id_number", printable=True)
    if identity.get("id_number"):
        item16 = hashlib.sha256(str(identity["id_number"]).encode()).hexdigest()[:16].upper()
        items.append((16, _printable(identity.get("item_16") or item16)))
    body = b"".join(_seq(_int(n), value) for n, value in items)
    return tlv.encode(0x6D, _seq(_int(1), _oid(OID_DG13), tlv.encode(0x31, body)))


def build_dg14_aa(hash_oid: str = OID_ECDSA_PLAIN_SHA256, extra: bytes = b"") -> bytes:
    info = _seq(_oid(OID_AA_INFO), _int(1), _oid(hash_oid))
    return tlv.encode(0x6E, tlv.encode(0x31, info + extra))


def build_dg14(
    ca_key: ec.EllipticCurvePrivateKey | None, aa_ec: bool, ca_cipher: str = "2"
) -> bytes:
    """DG14: ActiveAuthenticationInfo (EC active authentication) and chip authentication
    (``ca_cipher`` "2" AES-128, "1" 3DES)."""
    ca = ca_infos_der(ca_key, cipher=ca_cipher) if ca_key is not None else b""
    if aa_ec:
        return build_dg14_aa(extra=ca)
    return tlv.encode(0x6E, tlv.encode(0x31, ca))


def build_card_access(parameter_ids: tuple[int, ...] = (13,)) -> bytes:
    """EF.CardAccess offering PACE (ECDH generic mapping, AES-128) on each parameter ID
    (13 = brainpoolP256r1, 12 = NIST P-256)."""
    infos = b"".join(pace_info_der(OID_PACE_ECDH_GM_AES128, pid) for pid in parameter_ids)
    return tlv.encode(0x31, infos)


def build_dg15(key: PrivateKey) -> bytes:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return tlv.encode(0x6F, spki)


def build_sod(data_groups: dict[int, bytes], pki: TestPki, hash_name: str = "sha256") -> bytes:
    """EF.SOD: the LDS security object signed by the PKI's Document Signer."""
    lso = LdsSecurityObject(
        {
            "version": 0,
            "hash_algorithm": {"algorithm": hash_name},
            "data_group_hash_values": [
                {
                    "data_group_number": n,
                    "data_group_hash_value": hashlib.new(hash_name, d).digest(),
                }
                for n, d in sorted(data_groups.items())
            ],
        }
    ).dump()
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [OID_LDS_SECURITY_OBJECT]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": datetime.now(UTC)})]},
            {"type": "message_digest", "values": [hashlib.new(hash_name, lso).digest()]},
        ]
    )
    to_sign = attrs.dump()
    key = pki.ds_key
    digest = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    if pki.ds_signature == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(digest[hash_name]))
        algorithm: dict[str, Any] = {"algorithm": f"{hash_name}_ecdsa"}
    elif pki.ds_signature == "pss" and isinstance(key, rsa.RSAPrivateKey):
        salt = digest[hash_name].digest_size
        signature = key.sign(
            to_sign, padding.PSS(padding.MGF1(digest[hash_name]), salt), digest[hash_name]
        )
        algorithm = {
            "algorithm": "rsassa_pss",
            "parameters": {
                "hash_algorithm": {"algorithm": hash_name},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_name}},
                "salt_length": salt,
                "trailer_field": "trailer_field_bc",
            },
        }
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), digest[hash_name])
        algorithm = {"algorithm": f"{hash_name}_rsa"}
    else:
        raise InvalidInput(f"DS key and signature scheme {pki.ds_signature!r} do not match")
    ds_cert = ax509.Certificate.load(pki.ds_der)
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": ds_cert.issuer, "serial_number": ds_cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": hash_name},
            "signed_attrs": attrs,
            "signature_algorithm": algorithm,
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": hash_name}],
            "encap_content_info": {
                "content_type": OID_LDS_SECURITY_OBJECT,
                "content": core.ParsableOctetString(lso),
            },
            "certificates": [ds_cert],
            "signer_infos": [signer],
        }
    )
    return tlv.encode(
        0x77, cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    )


# --- the whole chip ---------------------------------------------------------------------------


def new_aa_key(kind: str) -> PrivateKey | None:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 1024)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "none":
        return None
    raise InvalidInput(f"active authentication key must be one of {AA_KINDS}")


def personalise(
    identity: dict[str, Any],
    photo: bytes,
    pki: TestPki,
    *,
    aa: str = "rsa",
    aa_key: PrivateKey | None = None,
    card_access: bool | tuple[int, ...] = False,
    ca: bool | str = False,
    hash_name: str = "sha256",
) -> ChipImage:
    """A chip for ``identity`` (shaped like :data:`appliance.citizen.TEST_CITIZEN`).

    ``card_access``: EF.CardAccess offering PACE (True, or the parameter IDs); ``ca``: chip
    authentication in DG14 (True or ``"aes"``: AES-128, ``"3des"``)."""
    missing = [
        k for k in ("id_number", "full_name", "date_of_birth", "issue_date") if not identity.get(k)
    ]
    if missing:
        raise InvalidInput(f"identity needs {', '.join(missing)} for the MRZ")
    try:
        mrz = td1_from_identity(identity)
    except InvalidInput:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"identity cannot make an MRZ: {exc}") from None
    dob = _date(identity, "date_of_birth")
    doe = expiry_date(dob, _date(identity, "issue_date"))
    key = aa_key if aa_key is not None else new_aa_key(aa)
    dgs: dict[int, bytes] = {
        1: build_dg1(mrz),
        2: build_dg2(photo, identity.get("sex")),
        3: tlv.encode(0x63, tlv.encode(0x02, b"\x00")),
        13: build_dg13(identity),
    }
    ca_key = ec.generate_private_key(ec.BrainpoolP256R1()) if ca else None
    ca_cipher = "1" if ca == "3des" else "2"
    if isinstance(key, ec.EllipticCurvePrivateKey) or ca_key is not None:
        dgs[14] = build_dg14(ca_key, isinstance(key, ec.EllipticCurvePrivateKey), ca_cipher)
    if key is not None:
        dgs[15] = build_dg15(key)
    files = {f"DG{n}": content for n, content in dgs.items()}
    files["COM"] = build_com(sorted(dgs))
    files["SOD"] = build_sod(dgs, pki, hash_name)
    if card_access:
        ids = card_access if isinstance(card_access, tuple) else (13,)
        files["CardAccess"] = build_card_access(ids)
    return ChipImage(
        files=files,
        document_number=str(identity["id_number"])[3:],
        date_of_birth=yymmdd(dob),
        date_of_expiry=yymmdd(doe),
        aa_key=key,
        ca_key=ca_key,
        ca_oid=f"{OID_CA}.2.{ca_cipher}" if ca_key is not None else None,
    )


def load_identity(path: str | Path) -> dict[str, Any]:
    """An identity JSON file (field names of ``appliance qr parse`` plus the DG13 fields)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a JSON object")
    return data


def jpeg_of_size(size: int, width: int = 240, height: int = 320) -> bytes:
    """A JPEG of exactly ``size`` bytes (a noisy gradient, padded with comment segments); for
    benchmarks that need a face image of a given size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(4)
    while True:
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack(
            [xx * 255 // width, yy * 255 // height, (xx + yy) * 127 // (width + height)], -1
        )
        pixels = np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)
        for quality in range(95, 4, -5):
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, "JPEG", quality=quality)
            data = out.getvalue()
            if len(data) + 4 <= size:
                break
        if len(data) + 4 <= size or width < 16:
            break
        width, height = width // 2, height // 2
    missing = size - len(data)
    if missing < 4:
        raise ValueError(f"cannot make a JPEG of {size} bytes")
    segments = b""
    while missing >= 4:
        chunk = min(missing, 65535 + 2)
        if missing - chunk in (1, 2, 3):
            chunk -= 4
        segments += b"\xff\xfe" + (chunk - 2).to_bytes(2, "big") + bytes(chunk - 4)
        missing -= chunk
    return data[:2] + segments + data[2:]
