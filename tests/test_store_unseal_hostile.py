"""Hostile bundles at the office: path traversal, unknown devices, deep JSON, huge integers.

Each test builds the bundle an attacker with the office public key and a (stolen) device key
could make, and checks that ``appliance unseal`` neither writes outside ``--out`` nor stops
processing the rest of the stick.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from appliance.cli import main
from appliance.store.bundle import INFO_PREFIX, MAGIC, SUITE_ID, VERSION, Part, seal, unseal
from appliance.store.errors import BundleMalformed
from appliance.store.keys import ensure_device_key, key_id, load_private_key

GOOD_ID = "ab" * 16


def run(capsys, *argv: str) -> tuple[int, list[dict]]:
    rc = main([*argv, "--json"])
    out = capsys.readouterr().out
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def keys(tmp_path, capsys):
    rc, _ = run(capsys, "keys", "office", "--out", str(tmp_path / "office"))
    assert rc == 0
    priv_path = tmp_path / "office" / "office_x25519.pem"
    office = load_private_key(priv_path, X25519PrivateKey)
    device = ensure_device_key(tmp_path / "thief")  # a lost field kit's key
    devices = tmp_path / "devices"
    devices.mkdir()
    (devices / "kit.pub").write_text(device.public_pem())
    return office, priv_path, device, devices


def forge(device, office_pub, *, bundle_id=GOOD_ID, parts=(), header_raw=None, inner_raw=None):
    """Seal and sign like a kiosk would, but with attacker-chosen names or raw JSON."""
    header = {
        "bundle_id": bundle_id,
        "clock_synced": True,
        "created_at": "2025-06-01T09:00:00.000+07:00",
        "device_key_id": device.key_id,
        "device_public_key": base64.b64encode(device.public_raw).decode(),
        "kind": "capture",
        "office_key_id": key_id(office_pub),
    }
    hbytes = header_raw if header_raw is not None else json.dumps(header).encode()
    prefix = MAGIC + bytes([VERSION, SUITE_ID]) + struct.pack(">H", len(hbytes)) + hbytes
    meta = [
        {
            "name": n,
            "content_type": "image/png",
            "length": len(b),
            "sha256": hashlib.sha256(b).hexdigest(),
        }
        for n, b in parts
    ]
    inner = inner_raw
    if inner is None:
        inner = json.dumps(
            {"bundle_id": bundle_id, "kind": "capture", "record": {"x": 1}, "parts": meta}
        ).encode()
    plaintext = struct.pack(">I", len(inner)) + inner + b"".join(b for _, b in parts)
    from cryptography.hazmat.primitives import hpke

    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    sealed = suite.encrypt(plaintext, office_pub, info=INFO_PREFIX + prefix)
    signed = prefix + struct.pack(">I", len(sealed)) + sealed
    return signed + device.private.sign(signed)


@pytest.mark.parametrize(
    "bundle_id, part",
    [
        ("../escaped", "portrait"),
        ("/tmp/abs", "portrait"),
        (GOOD_ID, "../../escaped"),
        (GOOD_ID, "/abs/escaped"),
        (GOOD_ID, "record.json"),
        (GOOD_ID, "sub/dir"),
        (GOOD_ID, ".."),
    ],
)
def test_traversal_names_refused_and_nothing_written_outside(
    tmp_path, capsys, keys, bundle_id, part
):
    office, priv_path, device, devices = keys
    evil = tmp_path / "stick" / "evil.ccsb"
    evil.parent.mkdir()
    evil.write_bytes(
        forge(device, office.public_key(), bundle_id=bundle_id, parts=[(part, b"PWN")])
    )
    good = tmp_path / "stick" / "good.ccsb"
    good.write_bytes(forge(device, office.public_key(), parts=[("portrait", b"ok")]))
    out = tmp_path / "deep" / "out"
    before = {p for p in tmp_path.rglob("*")}
    rc, lines = run(
        capsys, "unseal", str(evil), str(good), "--key", str(priv_path),
        "--devices", str(devices), "--out", str(out),
    )  # fmt: skip
    assert rc == 2
    assert lines[0]["ok"] is False and lines[0]["error"]["code"] == "bundle_malformed"
    assert lines[1]["ok"] is True  # the rest of the stick is still processed
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(out) or out.is_relative_to(p) for p in created), created
    assert not any(p.read_bytes() == b"PWN" for p in created if p.is_file())
    assert (out / GOOD_ID / "portrait").read_bytes() == b"ok"


def test_duplicate_part_names_refused(keys):
    office, _, device, _ = keys
    data = forge(device, office.public_key(), parts=[("portrait", b"a"), ("portrait", b"b")])
    with pytest.raises(BundleMalformed, match="twice"):
        unseal(data, office)


def test_seal_refuses_bad_names(keys):
    office, _, device, _ = keys
    with pytest.raises(ValueError):
        seal("capture", {}, [Part("../x", "image/png", b"")], device_key=device,
             office_key=office.public_key(), bundle_id=GOOD_ID, created_at="x",
             clock_synced=None)  # fmt: skip
    with pytest.raises(ValueError):
        seal("capture", {}, [], device_key=device, office_key=office.public_key(),
             bundle_id="../x", created_at="x", clock_synced=None)  # fmt: skip


def test_unseal_needs_a_device_register_unless_allowed(tmp_path, capsys, keys):
    office, priv_path, device, _ = keys
    bundle = tmp_path / "b.ccsb"
    bundle.write_bytes(forge(device, office.public_key(), parts=[("portrait", b"ok")]))
    rc, (res,) = run(capsys, "unseal", str(bundle), "--key", str(priv_path))
    assert rc == 2 and res["ok"] is False and res["error"]["code"] == "usage"
    assert "--allow-unknown-devices" in res["error"]["message"]
    rc, (res,) = run(
        capsys, "unseal", str(bundle), "--key", str(priv_path), "--allow-unknown-devices"
    )
    assert rc == 0 and res["ok"] and res["signer_registered"] is False and "warning" in res


DEEP = b"[" * 30000 + b"]" * 30000
HUGE_INT = b'{"bundle_id": ' + b"9" * 5000 + b"}"


@pytest.mark.parametrize("where", ["header", "inner"])
@pytest.mark.parametrize("raw", [DEEP, HUGE_INT], ids=["deep", "huge_int"])
def test_deep_json_and_huge_ints_are_typed_and_the_stick_goes_on(
    tmp_path, capsys, keys, where, raw
):
    office, priv_path, device, devices = keys
    kw = {"header_raw": raw} if where == "header" else {"inner_raw": raw}
    bad = tmp_path / "bad.ccsb"
    bad.write_bytes(forge(device, office.public_key(), **kw))
    good = tmp_path / "good.ccsb"
    good.write_bytes(forge(device, office.public_key(), parts=[("portrait", b"ok")]))
    with pytest.raises(BundleMalformed):
        unseal(bad.read_bytes(), office)
    rc, lines = run(
        capsys, "unseal", str(bad), str(good), "--key", str(priv_path), "--devices", str(devices)
    )
    assert rc == 2 and [line["ok"] for line in lines] == [False, True]
    assert lines[0]["error"]["code"] == "bundle_malformed"
