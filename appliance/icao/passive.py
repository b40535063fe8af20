"""Passive authentication (ICAO 9303-11 section 5.1) and the CSCA trust store.

Steps, in the order a failure is reported (``failed_step``):

1. ``sod``: EF.SOD is present and parses (CMS SignedData around an LDS security object).
2. ``hash:DGn``: every data group that was read is listed in the SOD with the same hash.
3. ``certificate``: the Document Signer certificate (in the SOD, or in the trust store) is found
   and its public key is usable.
4. ``signature``: the SOD signature verifies with it (RSA PKCS#1 v1.5 or PSS, ECDSA; signed
   attributes checked against the content).
5. ``chain``: the DS certificate is signed by a CSCA of the trust store.

Result: ``verified``; ``chain_unknown`` when steps 1-4 pass but no CSCA of the trust store issued
the DS certificate; ``failed`` otherwise. The trust store is a folder of CSCA certificates (PEM or
DER, several per PEM file allowed) and ICAO master lists (CMS ``.ml`` files; the master list's
own signature is not checked: putting the file in the folder is the trust decision).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import algos, cms, core, pem, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from appliance.icao.errors import LdsError
from appliance.icao.keys import PublicKey, load_public_key
from appliance.icao.lds import Sod, parse_sod

log = logging.getLogger(__name__)

VERIFIED, CHAIN_UNKNOWN, FAILED = "verified", "chain_unknown", "failed"
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
ECDSA_PLAIN = {  # BSI TR-03111 plain (r||s) ECDSA signature OIDs
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}
TRUST_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".ml", ".cert"}


# --- trust store ------------------------------------------------------------------------------


class _CertSet(core.SetOf):
    _child_spec = x509.Certificate


class CscaMasterList(core.Sequence):
    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("version", core.Integer),
        ("cert_list", _CertSet),
    ]


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Name equality: identical DER first (fast), else asn1crypto's normalised comparison (a
    name that cannot be normalised, e.g. invalid UTF-8 or mixed-direction text, is unequal)."""
    try:
        return a.dump() == b.dump() or a == b
    except Exception:  # asn1crypto raises ValueError/UnicodeDecodeError on hostile names
        return False


def friendly_name(name: x509.Name) -> str:
    """A name for logs and results; never raises (hostile names get a hex fallback)."""
    try:
        return str(name.human_friendly)
    except Exception:
        try:
            return "unreadable name " + name.dump()[:64].hex()
        except Exception:
            return "unreadable name"


def _load_der_certificate(der: bytes) -> x509.Certificate:
    cert = x509.Certificate.load(der)
    cert.native  # noqa: B018 (parse it all now, so a bad file fails here)
    return cert


def _master_list_certificates(der: bytes) -> list[x509.Certificate]:
    info = cms.ContentInfo.load(der)
    encap = info["content"]["encap_content_info"]
    if encap["content_type"].dotted != OID_CSCA_MASTER_LIST:
        raise ValueError(f"CMS content {encap['content_type'].dotted} is not a CSCA master list")
    master = CscaMasterList.load(bytes(encap["content"].contents))
    certs = list(master["cert_list"])
    for cert in certs:
        cert.native  # noqa: B018
    return certs


def certificates_from_bytes(data: bytes) -> list[x509.Certificate]:
    """Certificates in a PEM file (any number), a DER certificate, or an ICAO master list."""
    if pem.detect(data):
        return [
            _load_der_certificate(der)
            for kind, _, der in pem.unarmor(data, multiple=True)
            if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
        ]
    try:
        return [_load_der_certificate(data)]
    except Exception:  # not a certificate: maybe a master list
        return _master_list_certificates(data)


@dataclass
class TrustStore:
    """CSCA certificates that anchor passive authentication."""

    certificates: list[x509.Certificate] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_dir(cls, path: str | Path | None) -> TrustStore:
        """Every certificate in the folder (recursively); unreadable files are listed in
        ``errors`` and logged, not fatal. A missing folder is an empty store."""
        store = cls()
        if not path:
            return store
        root = Path(path)
        if not root.is_dir():
            store.errors.append(f"{root}: not a folder")
            log.warning("trust store %s is not a folder: no CSCA is trusted", root)
            return store
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            if file.suffix.lower() not in TRUST_SUFFIXES:
                continue
            try:
                certs = certificates_from_bytes(file.read_bytes())
            except Exception as exc:  # one bad file must not hide the others
                store.errors.append(f"{file.name}: {type(exc).__name__}: {exc}")
                log.warning("trust store: cannot use %s: %s", file, exc)
                continue
            store.add(certs, str(file))
        log.info("trust store %s: %d certificates", root, len(store.certificates))
        return store

    def add(self, certs: list[x509.Certificate], source: str = "") -> None:
        seen = {c.sha256 for c in self.certificates}
        for cert in certs:
            if cert.sha256 not in seen:
                self.certificates.append(cert)
                seen.add(cert.sha256)
        if source:
            self.sources.append(source)

    def issuers_of(self, issuer: x509.Name, aki: bytes | None = None) -> list[x509.Certificate]:
        """Trusted certificates with subject ``issuer`` (and key identifier ``aki``, when both
        sides carry one)."""
        out = []
        for ca in self.certificates:
            if not same_name(ca.subject, issuer):
                continue
            if aki and ca.key_identifier and ca.key_identifier != aki:
                continue
            out.append(ca)
        return out

    def find(self, issuer: x509.Name, serial: int) -> x509.Certificate | None:
        for cert in self.certificates:
            if same_name(cert.issuer, issuer) and cert.serial_number == serial:
                return cert
        return None


# --- signatures -------------------------------------------------------------------------------


def _hash(name: str) -> hashes.HashAlgorithm:
    try:
        return HASHES[name]()
    except KeyError:
        raise LdsError(f"unsupported hash algorithm {name}") from None


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(_hash(name).name, data).digest()


def verify_signature(
    key: PublicKey,
    algorithm: algos.SignedDigestAlgorithm,
    signature: bytes,
    data: bytes,
    digest_name: str | None = None,
) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key`` under ``algorithm``
    (``digest_name`` is used when the algorithm itself names no hash, e.g. rsaEncryption)."""
    try:
        oid = algorithm["algorithm"].dotted
        if oid in ECDSA_PLAIN:
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) % 2:
                return False
            half = len(signature) // 2
            signature = utils.encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(signature, data, ec.ECDSA(_hash(ECDSA_PLAIN[oid])))
            return True
        kind = algorithm.signature_algo
        if kind == "rsassa_pss":
            params = algorithm["parameters"]
            hash_name = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            salt = params["salt_length"].native
            if not isinstance(key, rsa.RSAPublicKey) or not 0 <= salt <= key.key_size // 8:
                return False
            pss = padding.PSS(padding.MGF1(_hash(mgf_hash)), salt)
            key.verify(signature, data, pss, _hash(hash_name))
            return True
        try:
            hash_name = algorithm.hash_algo
        except ValueError:
            hash_name = digest_name
        if hash_name is None:
            return False
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _hash(hash_name))
            return True
        if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_hash(hash_name)))
            return True
        return False
    except InvalidSignature:
        return False
    except Exception as exc:  # chip data: any parse or range error means "does not verify"
        log.info("signature not verifiable: %s: %s", type(exc).__name__, exc)
        return False


def algorithm_name(algorithm: algos.SignedDigestAlgorithm) -> str:
    try:
        oid = algorithm["algorithm"].dotted
    except Exception:
        return "unreadable"
    if oid in ECDSA_PLAIN:
        return f"ecdsa-plain-{ECDSA_PLAIN[oid]}"
    try:
        return str(algorithm["algorithm"].native)
    except Exception:
        return oid


# --- passive authentication -------------------------------------------------------------------


@dataclass
class PassiveAuthResult:
    status: str
    failed_step: str | None = None
    message: str | None = None
    hash_algorithm: str | None = None
    data_groups: dict[str, str] = field(default_factory=dict)
    signature_algorithm: str | None = None
    ds_subject: str | None = None
    csca_subject: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "failed_step": self.failed_step,
            "message": self.message,
            "hash_algorithm": self.hash_algorithm,
            "data_groups": self.data_groups,
            "signature_algorithm": self.signature_algorithm,
            "ds_subject": self.ds_subject,
            "csca_subject": self.csca_subject,
            "warnings": self.warnings,
        }


def _fail(result: PassiveAuthResult, step: str, message: str) -> PassiveAuthResult:
    result.status, result.failed_step, result.message = FAILED, step, message
    log.warning("passive authentication failed at %s: %s", step, message)
    return result


def _signed_bytes(signer: cms.SignerInfo, sod: Sod) -> bytes | str:
    """What the DS signed, or an error message when the signed attributes do not match."""
    attrs = signer["signed_attrs"]
    if not attrs or isinstance(attrs, core.Void) or not len(attrs):
        return sod.econtent
    digest_name = signer["digest_algorithm"]["algorithm"].native
    found_digest = found_type = None
    for attr in attrs:
        kind = attr["type"].native
        if kind == "message_digest":
            found_digest = bytes(attr["values"][0].native)
        elif kind == "content_type":
            found_type = attr["values"][0].dotted
    if found_type is not None and found_type != "2.23.136.1.1.1":
        return "the signed content-type attribute does not match"
    if found_digest is None:
        return "the signed attributes have no message digest"
    if found_digest != digest(digest_name, sod.econtent):
        return "the signed message digest does not match the LDS security object"
    encoded = attrs.dump()
    return b"\x31" + encoded[1:]  # signed over as an explicit SET OF


def _validity_warnings(cert: x509.Certificate, who: str, now: datetime) -> list[str]:
    validity = cert["tbs_certificate"]["validity"]
    out = []
    if validity["not_after"].native < now:
        out.append(f"{who}_expired")
    if validity["not_before"].native > now:
        out.append(f"{who}_not_yet_valid")
    return out


def _ds_certificate(
    signer: cms.SignerInfo, sod: Sod, trust: TrustStore | None
) -> x509.Certificate | None:
    sid = signer["sid"]
    pool = list(sod.certificates) + (trust.certificates if trust else [])
    for cert in pool:
        if sid.name == "issuer_and_serial_number":
            issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
            if cert.serial_number == serial and same_name(cert.issuer, issuer):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def passive_authentication(
    sod_bytes: bytes | None,
    data_groups: dict[int, bytes],
    trust: TrustStore | None,
    now: datetime | None = None,
    missing: list[int] | tuple[int, ...] = (),
) -> PassiveAuthResult:
    """Verify the data groups that were read against EF.SOD and the trust store.

    ``missing``: data groups EF.SOD lists that the chip did not return (``missing:DGn``).
    Never raises: anything unexpected in the chip's data is ``failed`` at the step it hit.
    """
    result = PassiveAuthResult(status=FAILED)
    result.failed_step = "sod"
    try:
        return _passive(result, sod_bytes, data_groups, trust, now or datetime.now(UTC), missing)
    except Exception as exc:  # the last line of defence: chip data must never raise
        step = result.failed_step or "sod"
        result.data_groups = dict(result.data_groups)
        return _fail(result, step, f"unusable chip data: {type(exc).__name__}")


def _passive(result, sod_bytes, data_groups, trust, now, missing) -> PassiveAuthResult:
    result.failed_step = "sod"
    if sod_bytes is None:
        return _fail(result, "sod", "the chip has no EF.SOD")
    try:
        sod = parse_sod(sod_bytes)
        _hash(sod.hash_algorithm)
    except LdsError as exc:
        return _fail(result, "sod", exc.message)
    result.hash_algorithm = sod.hash_algorithm

    for number in sorted(data_groups):
        expected = sod.hashes.get(number)
        if expected is None:
            result.data_groups[f"DG{number}"] = "not_in_sod"
            return _fail(result, f"hash:DG{number}", f"DG{number} is not listed in EF.SOD")
        if digest(sod.hash_algorithm, data_groups[number]) != expected:
            result.data_groups[f"DG{number}"] = "mismatch"
            return _fail(result, f"hash:DG{number}", f"DG{number} does not match its hash")
        result.data_groups[f"DG{number}"] = "ok"
    for number in sorted(missing):
        result.data_groups[f"DG{number}"] = "missing"
        return _fail(
            result, f"missing:DG{number}", f"EF.SOD lists DG{number}, the chip withheld it"
        )

    result.failed_step = "certificate"
    try:  # a chip's certificate is untrusted input: parse what later steps use, here
        signer = sod.signed_data["signer_infos"][0]
        ds = _ds_certificate(signer, sod, trust)
        if ds is None:
            return _fail(result, "certificate", "the Document Signer certificate is missing")
        result.ds_subject = friendly_name(ds.subject)
        ds_key = load_public_key(ds["tbs_certificate"]["subject_public_key_info"])
        ds_warnings = _validity_warnings(ds, "ds_certificate", now)
        ds_issuer, ds_aki = ds.issuer, ds.authority_key_identifier
        ds_issuer.dump()
        tbs = ds["tbs_certificate"].dump()
        cert_algorithm = ds["signature_algorithm"]
        cert_signature = bytes(ds["signature_value"].native)
    except LdsError as exc:
        return _fail(result, "certificate", f"unusable Document Signer certificate: {exc.message}")
    except Exception as exc:  # malformed CMS pieces surface lazily in asn1crypto
        return _fail(result, "certificate", f"malformed Document Signer data: {exc}")
    result.warnings += ds_warnings

    result.failed_step = "signature"
    try:
        algorithm = signer["signature_algorithm"]
        result.signature_algorithm = algorithm_name(algorithm)
        signed = _signed_bytes(signer, sod)
        signature = bytes(signer["signature"].native)
        digest_name = signer["digest_algorithm"]["algorithm"].native
    except Exception as exc:
        return _fail(result, "signature", f"malformed signer information: {exc}")
    if isinstance(signed, str):
        return _fail(result, "signature", signed)
    if not verify_signature(ds_key, algorithm, signature, signed, digest_name):
        return _fail(result, "signature", "the SOD signature does not verify")

    result.failed_step = "chain"
    candidates = trust.issuers_of(ds_issuer, ds_aki) if trust else []
    if not candidates:
        result.status, result.failed_step = CHAIN_UNKNOWN, None
        result.message = "signature valid; no CSCA in the trust store issued the DS certificate"
        log.info("passive authentication: chain unknown (issuer %s)", friendly_name(ds_issuer))
        return result
    for csca in candidates:
        try:
            csca_key = load_public_key(csca["tbs_certificate"]["subject_public_key_info"])
        except LdsError as exc:
            result.warnings.append("csca_key_unusable")
            log.warning("CSCA %s: %s", friendly_name(csca.subject), exc.message)
            continue
        if verify_signature(csca_key, cert_algorithm, cert_signature, tbs):
            result.status, result.failed_step = VERIFIED, None
            result.csca_subject = friendly_name(csca.subject)
            result.warnings += _validity_warnings(csca, "csca_certificate", now)
            log.info("passive authentication verified")
            return result
    return _fail(result, "chain", "the DS certificate is not signed by the matching CSCA")
