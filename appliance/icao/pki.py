"""A test PKI for the emulator: a CSCA and a Document Signer, generated with ``cryptography``.

``appliance card pki --out DIR`` writes ``csca.pem`` (the trust anchor to hand to ``--trust``),
``csca.key.pem``, ``ds.pem``, ``ds.key.pem`` and ``pki.json`` (how the DS signs). The private
keys are unencrypted: this PKI is for tests and demos only and must never sign a real document.
By default the CSCA is an EC key on brainpoolP256r1 written with explicit curve parameters, like
the Vietnamese CSCA in the ICAO master list, so every test exercises that path.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from appliance.errors import InvalidInput
from appliance.icao.keys import explicit_spki

CSCA_KINDS = ("ec-explicit", "ec", "rsa")
DS_KINDS = ("ec", "rsa", "rsa-pss")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class TestPki:
    csca_der: bytes
    csca_key: PrivateKey
    ds_der: bytes
    ds_key: PrivateKey
    ds_signature: str  # "ecdsa", "pkcs1v15" or "pss"

    @property
    def csca_pem(self) -> bytes:
        return _pem(self.csca_der)

    def save(self, out_dir: str | Path) -> dict[str, str]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "csca": out / "csca.pem",
            "csca_key": out / "csca.key.pem",
            "ds": out / "ds.pem",
            "ds_key": out / "ds.key.pem",
            "meta": out / "pki.json",
        }
        files["csca"].write_bytes(self.csca_pem)
        files["ds"].write_bytes(_pem(self.ds_der))
        for name, key in (("csca_key", self.csca_key), ("ds_key", self.ds_key)):
            files[name].write_bytes(_key_pem(key))
            files[name].chmod(0o600)
        files["meta"].write_text(json.dumps({"ds_signature": self.ds_signature}) + "\n")
        return {name: str(path) for name, path in files.items()}


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Appliance test PKI (not for real use)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key(kind: str) -> PrivateKey:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, 2048)
    return ec.generate_private_key(
        ec.BrainpoolP256R1() if kind == "ec-explicit" else ec.SECP256R1()
    )


def _with_explicit_curve(cert_der: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Re-encode a self-signed EC certificate's key with explicit parameters and re-sign it."""
    cert = ax509.Certificate.load(cert_der)
    tbs = cert["tbs_certificate"]
    tbs["subject_public_key_info"] = akeys.PublicKeyInfo.load(explicit_spki(key.public_key()))
    tbs_der = tbs.dump(force=True)
    cert["tbs_certificate"] = ax509.TbsCertificate.load(tbs_der)
    cert["signature_value"] = key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    return cert.dump(force=True)


def generate_pki(csca: str = "ec-explicit", ds: str = "ec", years: int = 10) -> TestPki:
    """A fresh CSCA (``ec-explicit``, ``ec`` or ``rsa``) and DS (``ec``, ``rsa``, ``rsa-pss``)."""
    if csca not in CSCA_KINDS or ds not in DS_KINDS:
        raise InvalidInput(f"CSCA must be one of {CSCA_KINDS}, DS one of {DS_KINDS}")
    now = datetime.now(UTC) - timedelta(days=1)
    csca_key, ds_key = _new_key(csca), _new_key(ds)
    csca_name = _name("CSCA Test Vietnam")
    csca_cert = (
        x509.CertificateBuilder()
        .subject_name(csca_name)
        .issuer_name(csca_name)
        .public_key(csca_key.public_key())
        .serial_number(secrets.randbits(63))
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365 * (years + 5)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csca_key.public_key()), False)
        .sign(csca_key, hashes.SHA256())
    )
    csca_der = csca_cert.public_bytes(serialization.Encoding.DER)
    if csca == "ec-explicit":
        csca_der = _with_explicit_curve(csca_der, csca_key)  # type: ignore[arg-type]
    ds_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Document Signer Test Vietnam"))
        .issuer_name(csca_name)
        .public_key(ds_key.public_key())
        .serial_number(secrets.randbits(63))
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ds_key.public_key()), False)
        .sign(csca_key, hashes.SHA256())
    )
    signature = {"ec": "ecdsa", "rsa": "pkcs1v15", "rsa-pss": "pss"}[ds]
    return TestPki(
        csca_der, csca_key, ds_cert.public_bytes(serialization.Encoding.DER), ds_key, signature
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _cert_der(data: bytes, path: Path) -> bytes:
    from asn1crypto import pem

    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    try:
        ax509.Certificate.load(data).native  # noqa: B018
    except Exception:
        raise InvalidInput(f"{path} is not a certificate") from None
    return data


def load_pki(directory: str | Path) -> TestPki:
    """A PKI written by :meth:`TestPki.save` (``appliance card pki``)."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInput(f"PKI folder {root} does not exist (make one: appliance card pki)")
    keys = []
    for name in ("csca.key.pem", "ds.key.pem"):
        try:
            keys.append(serialization.load_pem_private_key(_read(root / name), None))
        except ValueError:
            raise InvalidInput(f"{root / name} is not an unencrypted PEM private key") from None
    csca_key, ds_key = keys
    if not isinstance(ds_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput("the DS key must be RSA or EC")
    meta_path = root / "pki.json"
    signature = "ecdsa" if isinstance(ds_key, ec.EllipticCurvePrivateKey) else "pkcs1v15"
    if meta_path.exists():
        try:
            signature = json.loads(_read(meta_path)).get("ds_signature", signature)
        except (ValueError, AttributeError):
            raise InvalidInput(f"{meta_path} is not valid JSON") from None
    return TestPki(
        _cert_der(_read(root / "csca.pem"), root / "csca.pem"),
        csca_key,  # type: ignore[arg-type]
        _cert_der(_read(root / "ds.pem"), root / "ds.pem"),
        ds_key,
        signature,
    )
