"""The hub's update manifest: signed by the office key, checked against the kiosk's keyring."""

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from update_fakes import make_key

from appliance.update.errors import UpdateRefused
from appliance.update.manifest import (
    Manifest,
    load_keyring,
    load_manifest,
    parse_document,
    parse_payload,
)
from appliance.update.publish import load_private_key, sign_manifest

SHA = "ab" * 32


def manifest(**over):
    fields = dict(
        version="0.2.0",
        compatible="cccd-kiosk",
        channel="stable",
        bundle_url="https://hub.office/update/bundles/cccd-kiosk-0.2.0.raucb",
        sha256=SHA,
        size=1234,
        default_pct=10,
        sites={"xa-an-binh": 50},
    )
    fields.update(over)
    return Manifest(**fields)


@pytest.fixture
def keys(tmp_path):
    office_key, office_cert = make_key(tmp_path, "office")
    other_key, _ = make_key(tmp_path, "other")
    return {
        "key": load_private_key(office_key),
        "other": load_private_key(other_key),
        "keyring": load_keyring(office_cert),
    }


def test_signed_manifest_round_trips_and_resolves_the_bundle_url(keys):
    doc = sign_manifest(manifest(bundle_url="bundles/cccd-kiosk-0.2.0.raucb"), keys["key"])
    m = load_manifest(doc, keys["keyring"], base_url="https://hub.office/update/manifest.json")
    assert m.version == "0.2.0" and m.sha256 == SHA and m.size == 1234
    assert m.bundle_url == "https://hub.office/update/bundles/cccd-kiosk-0.2.0.raucb"
    assert m.share_for("xa-an-binh") == 50 and m.share_for("elsewhere") == 10


def test_unsigned_manifest_is_refused(keys):
    doc = json.loads(sign_manifest(manifest(), keys["key"]))
    doc["signature"] = ""
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(json.dumps(doc).encode(), keys["keyring"])
    assert exc.value.code == "unsigned"


def test_manifest_signed_by_another_key_is_refused(keys):
    doc = sign_manifest(manifest(), keys["other"])
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(doc, keys["keyring"])
    assert exc.value.code == "foreign_key"


def test_another_key_claiming_our_name_is_refused_as_tampered(keys):
    ours = json.loads(sign_manifest(manifest(), keys["key"]))
    theirs = json.loads(sign_manifest(manifest(version="9.9.9"), keys["other"]))
    theirs["signer"] = ours["signer"]
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(json.dumps(theirs).encode(), keys["keyring"])
    assert exc.value.code == "tampered"


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.replace('"default_pct": 10', '"default_pct": 100'),
        lambda p: p.replace("0.2.0", "0.2.1"),
        lambda p: p.replace(SHA, "cd" * 32),
        lambda p: p + " ",
    ],
)
def test_tampered_payload_is_refused(keys, edit):
    doc = json.loads(sign_manifest(manifest(), keys["key"]))
    edited = edit(doc["payload"])
    assert edited != doc["payload"]
    doc["payload"] = edited
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(json.dumps(doc).encode(), keys["keyring"])
    assert exc.value.code == "tampered"


def test_corrupted_signature_bytes_are_refused(keys):
    doc = json.loads(sign_manifest(manifest(), keys["key"]))
    sig = bytearray(base64.b64decode(doc["signature"]))
    sig[-1] ^= 1
    doc["signature"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(json.dumps(doc).encode(), keys["keyring"])
    assert exc.value.code == "tampered"


def test_manifest_for_another_channel_is_refused(keys):
    doc = sign_manifest(manifest(channel="beta"), keys["key"])
    with pytest.raises(UpdateRefused) as exc:
        load_manifest(doc, keys["keyring"], channel="stable")
    assert exc.value.code == "wrong_channel"
    assert load_manifest(doc, keys["keyring"], channel="beta").channel == "beta"


def test_stopped_rollout_offers_nothing(keys):
    m = load_manifest(sign_manifest(manifest(stopped=True), keys["key"]), keys["keyring"])
    assert m.share_for("xa-an-binh") == 0 and m.share_for("elsewhere") == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("version", "latest"),
        ("sha256", "xyz"),
        ("size", 0),
        ("size", True),
        ("bundle_url", "ftp://hub/x.raucb"),
        ("channel", "no spaces allowed"),
        ("rollout", {"default_pct": 101}),
        ("rollout", {"default_pct": 5, "sites": {"a": -1}}),
        ("rollout", {"default_pct": 0.5}),
        ("stopped", "no"),
    ],
)
def test_bad_fields_are_refused_by_name(field, value):
    payload = manifest().to_payload()
    payload[field] = value
    with pytest.raises(UpdateRefused) as exc:
        parse_payload(json.dumps(payload).encode())
    assert exc.value.code == ("bad_version" if field == "version" else "bad_manifest")


def test_signing_refuses_to_publish_what_kiosks_would_refuse(keys):
    with pytest.raises(UpdateRefused):
        sign_manifest(manifest(sha256="nothex"), keys["key"])


def test_not_a_manifest_document():
    for raw in (b"", b"[]", b"{}", b'{"format": "cccd-update-manifest/1"}', b"\xff" * 10):
        with pytest.raises(UpdateRefused) as exc:
            parse_document(raw)
        assert exc.value.code == "bad_manifest"
    with pytest.raises(UpdateRefused):
        parse_document(b" " * (65 * 1024))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_document_bytes_only_ever_refuse(raw):
    try:
        parse_document(raw)
    except UpdateRefused:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "version",
                "compatible",
                "channel",
                "bundle_url",
                "sha256",
                "size",
                "rollout",
                "stopped",
                "notes",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.booleans(),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        ),
    )
)
def test_fuzz_payload_fields_only_ever_refuse(data):
    try:
        parse_payload(json.dumps(data).encode())
    except UpdateRefused:
        pass
