"""The LDS1 files of an ICAO 9303 chip, as a CCCD carries them (DOMAIN.md section 5).

Parsers for EF.COM, DG1 (MRZ, parsed by :mod:`appliance.cccd.mrz`), DG2 (the face image out of
its ISO/IEC 19794-5 biometric data block), DG13 (the Vietnamese fields, by item number), DG14 and
EF.CardAccess (SecurityInfos), DG15 (the active authentication key) and EF.SOD (CMS SignedData
around the LDS security object). Every parser raises :class:`LdsError` on malformed input and
nothing else: a chip's bytes are untrusted until passive authentication says otherwise.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from asn1crypto import algos, cms, core, x509

from appliance.cccd.errors import CccdError
from appliance.cccd.mrz import Td1, parse_td1
from appliance.icao import tlv
from appliance.icao.errors import LdsError
from appliance.icao.keys import PublicKey, load_public_key

log = logging.getLogger(__name__)

AID_EMRTD = bytes.fromhex("A0000002471001")


@dataclass(frozen=True, slots=True)
class EfInfo:
    name: str
    fid: int
    sfi: int
    tag: int | None  # the tag the file's contents start with


FILES: dict[str, EfInfo] = {
    info.name: info
    for info in (
        EfInfo("CardAccess", 0x011C, 0x1C, None),
        EfInfo("COM", 0x011E, 0x1E, 0x60),
        EfInfo("SOD", 0x011D, 0x1D, 0x77),
        *(EfInfo(f"DG{n}", 0x0100 + n, n, tag) for n, tag in (
            (1, 0x61), (2, 0x75), (3, 0x63), (4, 0x76), (5, 0x65), (6, 0x66), (7, 0x67),
            (8, 0x68), (9, 0x69), (10, 0x6A), (11, 0x6B), (12, 0x6C), (13, 0x6D), (14, 0x6E),
            (15, 0x6F), (16, 0x70),
        )),
    )
}  # fmt: skip
TAG_TO_DG = {info.tag: int(name[2:]) for name, info in FILES.items() if name.startswith("DG")}


def _asn1_guard(what: str, fn, *args):
    """Run an asn1crypto parse; any exception from malformed DER becomes an LdsError."""
    try:
        return fn(*args)
    except LdsError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, ...
        raise LdsError(f"malformed {what}: {type(exc).__name__}: {exc}") from None


# --- EF.COM -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComFile:
    lds_version: str | None
    unicode_version: str | None
    data_groups: tuple[int, ...]


def parse_com(data: bytes) -> ComFile:
    items = tlv.children(tlv.unwrap(data, 0x60, "EF.COM"))
    tags = tlv.find(items, 0x5C)
    if tags is None:
        raise LdsError("EF.COM has no tag list (5C)")
    dgs, pos = [], 0
    while pos < len(tags):  # the list holds one- or two-byte tags (7F61-style never occurs)
        tag = tags[pos]
        pos += 1
        if tag & 0x1F == 0x1F:
            if pos >= len(tags):
                raise LdsError("EF.COM tag list ends inside a tag")
            tag = (tag << 8) | tags[pos]
            pos += 1
        if tag in TAG_TO_DG:
            dgs.append(TAG_TO_DG[tag])
    version = tlv.find(items, 0x5F01)
    unicode = tlv.find(items, 0x5F36)
    return ComFile(
        version.decode("latin-1") if version is not None else None,
        unicode.decode("latin-1") if unicode is not None else None,
        tuple(dgs),
    )


# --- DG1 --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dg1:
    mrz: str  # the three lines joined by newlines
    td1: Td1 | None
    error: dict[str, str] | None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.td1 is not None:
            out = self.td1.to_dict()
            return {**out, "warnings": list(self.warnings)} if self.warnings else out
        return {"ok": False, "mrz": self.mrz, "error": self.error}


# The 12-digit ID then "<<<": the national check digit at position 30 is a filler. ICAO 9303-5
# makes positions 16-30 optional data (no ICAO check digit there; the composite covers them), so
# such a TD1 is valid: DG1 is reported with the warning ``id_check_digit_absent`` (a wrong digit,
# not a filler, stays an error: then the ID number and its own check disagree).
_VN_NO_DIGIT = re.compile(r"[0-9]{12}<<<")


def _without_national_digit(text: str, today: date | None) -> Td1 | None:
    lines = text.split("\n")
    if len(lines) != 3 or len(lines[0]) != 30 or lines[0][2:5] != "VNM":
        return None
    if not _VN_NO_DIGIT.fullmatch(lines[0][15:30]):
        return None
    try:  # every ICAO check (document number, dates, composite) without the national one
        td1 = parse_td1("\n".join([lines[0][:2] + "VN<" + lines[0][5:], *lines[1:]]), today)
    except CccdError:
        return None
    return replace(td1, issuing_state="VNM", id_number=lines[0][15:27])


def parse_dg1(data: bytes, today: date | None = None) -> Dg1:
    mrz = tlv.find(tlv.children(tlv.unwrap(data, 0x61, "DG1")), 0x5F1F)
    if mrz is None:
        raise LdsError("DG1 has no MRZ (5F1F)")
    text = mrz.decode("latin-1")
    if len(text) == 90:
        text = "\n".join(text[i : i + 30] for i in range(0, 90, 30))
    try:
        return Dg1(text, parse_td1(text, today=today), None)
    except CccdError as exc:  # the chip's MRZ is reported as it is, with what is wrong
        lenient = _without_national_digit(text, today)
        if lenient is not None:
            return Dg1(text, lenient, None, ("id_check_digit_absent",))
        return Dg1(text, None, exc.to_dict())


# --- DG2 --------------------------------------------------------------------------------------

JPEG_SOI = b"\xff\xd8\xff"
JP2_SIGNATURE = bytes.fromhex("0000000C6A5020200D0A870A")
J2K_CODESTREAM = bytes.fromhex("FF4FFF51")


@dataclass(frozen=True, slots=True)
class FaceImage:
    data: bytes
    format: str  # "jpeg" or "jp2"
    width: int | None = None
    height: int | None = None

    @property
    def suffix(self) -> str:
        return ".jpg" if self.format == "jpeg" else ".jp2"


def image_format(data: bytes) -> str | None:
    if data.startswith(JPEG_SOI):
        return "jpeg"
    if data.startswith(JP2_SIGNATURE) or data.startswith(J2K_CODESTREAM):
        return "jp2"
    return None


def _face_from_iso19794_5(bdb: bytes) -> FaceImage | None:
    """The first image of an ISO/IEC 19794-5 facial record data block, if it is one."""
    if len(bdb) < 14 + 20 + 12 or bdb[:4] != b"FAC\x00":
        return None
    pos = 14
    block = int.from_bytes(bdb[pos : pos + 4], "big")
    points = int.from_bytes(bdb[pos + 4 : pos + 6], "big")
    info = pos + 20 + 8 * points
    start, end = info + 12, pos + block
    if block < 20 + 8 * points + 12 or end > len(bdb):
        return None
    width = int.from_bytes(bdb[info + 2 : info + 4], "big")
    height = int.from_bytes(bdb[info + 4 : info + 6], "big")
    image = bdb[start:end]
    fmt = image_format(image)
    return FaceImage(bytes(image), fmt, width, height) if fmt else None


def _scan_for_image(bdb: bytes) -> FaceImage | None:
    """Fallback for other record formats (e.g. ISO/IEC 39794-5): find an image signature."""
    hits = [
        (i, fmt)
        for sig, fmt in ((JPEG_SOI, "jpeg"), (JP2_SIGNATURE, "jp2"), (J2K_CODESTREAM, "jp2"))
        if (i := bdb.find(sig)) >= 0
    ]
    if not hits:
        return None
    start, fmt = min(hits)
    return FaceImage(bytes(bdb[start:]), fmt)


def parse_dg2(data: bytes) -> FaceImage:
    """The face image (JPEG or JPEG 2000) of the first biometric template in DG2."""
    group = tlv.find(tlv.children(tlv.unwrap(data, 0x75, "DG2")), 0x7F61)
    if group is None:
        raise LdsError("DG2 has no biometric information group template (7F61)")
    for template in tlv.children(group):
        if template.tag != 0x7F60:
            continue
        inner = tlv.children(template.value)
        bdb = tlv.find(inner, 0x5F2E)
        if bdb is None:
            bdb = tlv.find(inner, 0x7F2E)
        if bdb is None:
            continue
        face = _face_from_iso19794_5(bdb) or _scan_for_image(bdb)
        if face is not None:
            return face
    raise LdsError("DG2 holds no JPEG or JPEG 2000 face image")


# --- DG13 -------------------------------------------------------------------------------------

DG13_FIELDS = {
    1: "id_number",
    2: "full_name",
    3: "date_of_birth",
    4: "sex",
    5: "nationality",
    6: "ethnicity",
    7: "religion",
    8: "place_of_origin",
    9: "address",
    10: "identifying_features",
    11: "issue_date",
    12: "expiry_date",
    15: "old_id_number",
    16: "item_16",
}
DG13_DATES = {3, 11, 12}
DG13_KEYS = (
    "id_number", "old_id_number", "full_name", "date_of_birth", "sex", "address", "issue_date",
    "expiry_date", "nationality", "ethnicity", "religion", "place_of_origin",
    "identifying_features", "father_name", "mother_name", "spouse_name", "item_16",
)  # fmt: skip
_DMY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_SEX = {"nam": "male", "nữ": "female"}
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


def _string(item: tlv.Tlv) -> str:
    encoding = _STRING_TAGS.get(item.tag)
    if encoding is None:
        raise ValueError(f"tag {item.tag:02X} is not a string")
    return unicodedata.normalize("NFC", item.value.decode(encoding)).strip()


def _strings(value: tlv.Tlv) -> list[str]:
    """The strings of an item value: one string, or a SEQUENCE of strings."""
    if value.tag == 0x30:
        return [_string(child) for child in tlv.children(value.value)]
    return [_string(value)]


def dmy_to_iso(text: str) -> str | None:
    match = _DMY.fullmatch(text.strip())
    if not match:
        return None
    try:
        return date(int(match[3]), int(match[2]), int(match[1])).isoformat()
    except ValueError:
        return None


def _dg13_items(data: bytes) -> list[tlv.Tlv]:
    """The item SEQUENCEs: inside ``SEQUENCE { INTEGER, OID, SET { items } }``, tolerating a
    missing outer SEQUENCE or a SEQUENCE instead of the SET."""
    content = tlv.children(tlv.unwrap(data, 0x6D, "DG13"))
    if len(content) == 1 and content[0].tag == 0x30:
        content = tlv.children(content[0].value)
    for part in content:
        if part.tag in (0x31, 0x30):
            return tlv.children(part.value)
    raise LdsError("DG13 has no set of items")


def parse_dg13(data: bytes) -> dict[str, Any]:
    """The Vietnamese personal data by item number (DOMAIN.md table); any item may be missing.

    Dates become ``YYYY-MM-DD``, sex ``male``/``female``; what cannot be decoded is reported in
    ``warnings`` (item numbers only, never the value), unknown items in ``other_items``.
    """
    out: dict[str, Any] = dict.fromkeys(DG13_KEYS)
    warnings: list[str] = []
    other: dict[str, Any] = {}
    for item in _dg13_items(data):
        if item.tag != 0x30:
            raise LdsError(f"DG13 item with tag {item.tag:02X} is not a SEQUENCE")
        parts = tlv.children(item.value)
        if len(parts) < 2 or parts[0].tag != 0x02 or not 1 <= len(parts[0].value) <= 4:
            raise LdsError("DG13 item is not SEQUENCE { INTEGER n, value }")
        n = int.from_bytes(parts[0].value, "big", signed=True)
        try:
            values = _strings(parts[1])
        except (ValueError, LdsError):
            warnings.append(f"item_{n}_undecodable")
            continue
        first = values[0] if values else None
        if n == 13:
            out["father_name"] = values[0] or None if values else None
            out["mother_name"] = values[1] or None if len(values) > 1 else None
        elif n == 14:
            out["spouse_name"] = first or None
        elif n in DG13_DATES:
            iso = dmy_to_iso(first or "")
            if iso is None:
                warnings.append(f"item_{n}_not_a_date")
                if n == 12:
                    out["expiry_text"] = first
            out[DG13_FIELDS[n]] = iso
        elif n == 4:
            sex = _SEX.get((first or "").casefold())
            if sex is None:
                warnings.append("item_4_unknown_sex")
            out["sex"] = sex
        elif n in DG13_FIELDS:
            out[DG13_FIELDS[n]] = first
        else:
            other[str(n)] = values
    out["warnings"] = warnings
    if other:
        out["other_items"] = other
    return out


# --- SecurityInfos (DG14, EF.CardAccess) -------------------------------------------------------

OID_AA_INFO = "2.23.136.1.1.5"
PROTOCOL_PREFIXES = {
    "0.4.0.127.0.7.2.2.4.": "PACE",
    "0.4.0.127.0.7.2.2.3.": "ChipAuthentication",
    "0.4.0.127.0.7.2.2.1.": "ChipAuthenticationPublicKey",
    "0.4.0.127.0.7.2.2.2": "TerminalAuthentication",
    OID_AA_INFO: "ActiveAuthentication",
}
ECDSA_PLAIN_HASHES = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}


class SecurityInfo(core.Sequence):
    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("protocol", core.ObjectIdentifier),
        ("required_data", core.Any),
        ("optional_data", core.Any, {"optional": True}),
    ]


class SecurityInfos(core.SetOf):
    _child_spec = SecurityInfo


@dataclass(frozen=True, slots=True)
class SecurityInfoSummary:
    protocols: tuple[str, ...]
    aa_hash: str | None = None  # from ActiveAuthenticationInfo (ECDSA active authentication)

    def to_dict(self) -> dict[str, Any]:
        return {"protocols": list(self.protocols), "aa_hash": self.aa_hash}


def _protocol_name(oid: str) -> str:
    for prefix, name in PROTOCOL_PREFIXES.items():
        if oid.startswith(prefix):
            return name
    return oid


def parse_security_infos(der: bytes) -> SecurityInfoSummary:
    def _parse() -> SecurityInfoSummary:
        infos = SecurityInfos.load(der)
        names, aa_hash = [], None
        for info in infos:
            oid = info["protocol"].dotted
            names.append(_protocol_name(oid))
            if oid == OID_AA_INFO and info["optional_data"].contents:
                alg = core.ObjectIdentifier.load(info["optional_data"].dump()).dotted
                aa_hash = ECDSA_PLAIN_HASHES.get(alg)
        return SecurityInfoSummary(tuple(dict.fromkeys(names)), aa_hash)

    return _asn1_guard("SecurityInfos", _parse)


def parse_dg14(data: bytes) -> SecurityInfoSummary:
    return parse_security_infos(tlv.unwrap(data, 0x6E, "DG14"))


# --- DG15 -------------------------------------------------------------------------------------


def parse_dg15(data: bytes) -> PublicKey:
    """The active authentication public key (RSA or EC)."""
    return load_public_key(tlv.unwrap(data, 0x6F, "DG15"))


# --- EF.SOD -----------------------------------------------------------------------------------

OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"


class DataGroupHash(core.Sequence):
    _fields = [  # noqa: RUF012
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):
    _fields = [  # noqa: RUF012
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LdsSecurityObject(core.Sequence):
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


@dataclass
class Sod:
    """A parsed EF.SOD (nothing verified yet)."""

    hash_algorithm: str
    hashes: dict[int, bytes]
    econtent: bytes
    signed_data: cms.SignedData
    certificates: list[x509.Certificate] = field(default_factory=list)
    lds_version: str | None = None


def parse_sod(data: bytes) -> Sod:
    content_info = tlv.unwrap(data, 0x77, "EF.SOD")

    def _parse() -> Sod:
        info = cms.ContentInfo.load(content_info)
        if info["content_type"].native != "signed_data":
            raise LdsError("EF.SOD is not a CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != OID_LDS_SECURITY_OBJECT:
            raise LdsError(
                f"EF.SOD holds {encap['content_type'].dotted}, not an LDS security object"
            )
        econtent = encap["content"]
        if econtent is None or isinstance(econtent, core.Void):
            raise LdsError("EF.SOD has no encapsulated content")
        raw = bytes(econtent.contents)
        lso = LdsSecurityObject.load(raw)
        hash_alg = lso["hash_algorithm"]["algorithm"].native
        hashes: dict[int, bytes] = {}
        for item in lso["data_group_hash_values"]:
            number = item["data_group_number"].native
            if not isinstance(number, int) or not 1 <= number <= 16:
                raise LdsError(f"EF.SOD lists data group {number}")
            hashes[number] = bytes(item["data_group_hash_value"].native)
        certs = [c.chosen for c in (signed["certificates"] or []) if c.name == "certificate"]
        version = lso["lds_version_info"]
        lds_version = None if isinstance(version, core.Void) else version["lds_version"].native
        if len(signed["signer_infos"]) < 1:
            raise LdsError("EF.SOD has no signer")
        return Sod(hash_alg, hashes, raw, signed, certs, lds_version)

    return _asn1_guard("EF.SOD", _parse)
