"""A stolen kiosk reveals nothing: no ID number, name, address or image bytes in clear anywhere.

Runs a day's worth of operations (consent, captures, gate check-ins with sealed records, a
withdrawal, a failed upload, an export, a purge), then scans every byte the store wrote (the
database, its WAL and shared-memory files, key files, the export folder) and every log line.
"""

from __future__ import annotations

import socket
import unicodedata
from datetime import datetime

from appliance.citizen import TEST_CITIZEN
from appliance.config import StoreConfig
from appliance.store import Store, export_bundles, purge, upload_once
from appliance.store.testing import CONSENT_HASH, office_keys, sample_images

NOW = datetime(2025, 6, 2, 10, 30).astimezone()


def _needles(portrait: bytes, fingers: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for field in (
        "id_number",
        "full_name",
        "address",
        "father_name",
        "mother_name",
        "place_of_origin",
        "identifying_features",
    ):
        value = TEST_CITIZEN[field]
        assert value
        for form in ("NFC", "NFD"):
            out[f"{field}/{form}"] = unicodedata.normalize(form, value).encode()
        out[f"{field}/utf16"] = value.encode("utf-16-le")
    out["name/ascii"] = b"NGUYEN VAN AN"
    out["dob"] = b"1990-03-15"
    out["dob/qr"] = b"15031990"
    out["id/half"] = TEST_CITIZEN["id_number"][3:].encode()  # the hidden digits, anywhere
    for name, blob in {"portrait": portrait, **fingers}.items():
        for i, off in enumerate((100, len(blob) // 2, len(blob) - 64)):
            out[f"{name}/{i}"] = blob[off : off + 32]
    return out


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_personal_in_clear(tmp_path, caplog):
    caplog.set_level("DEBUG")
    _, pub = office_keys(tmp_path / "office")
    state = tmp_path / "state"
    portrait, fingers = sample_images()
    cfg = StoreConfig(
        upload_url=f"http://127.0.0.1:{_unused_port()}/bundles",
        upload_timeout_s=1.0,
        upload_connect_timeout_s=1.0,
    )
    with Store.open(state, store_cfg=cfg, office_public_key=pub) as store:
        consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=NOW)
        receipts = [
            store.save_capture(
                dict(TEST_CITIZEN),
                portrait=portrait,
                fingerprints=fingers,
                quality={"face": {"score": 80}},
                consent_id=consent,
                now=NOW,
                clock_synced=True,
            )
            for _ in range(3)
        ]
        store.add_checkin(
            "allow",
            None,
            "35-44",
            "male",
            TEST_CITIZEN["id_number"][:3],
            sealed_record={"qr": "001090012345||NGUYỄN VĂN AN|15031990|Nam|Số 1 Phố X|10042021"},
            now=NOW,
        )
        other = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=NOW)
        store.save_capture(
            dict(TEST_CITIZEN),
            portrait=portrait,
            fingerprints=fingers,
            quality={},
            consent_id=other,
            now=NOW,
        )
        store.withdraw_consent(other, reason="citizen_request", now=NOW)
        result = upload_once(store, cfg)
        assert result["endpoint_error"]  # nothing listens there: a logged failure
        export_bundles(store, tmp_path / "usb")
        purge(store, NOW, clock_synced=True)
        wal_bytes = (state / "appliance.db-wal").read_bytes()  # before close checkpoints it
        db_bytes = (state / "appliance.db").read_bytes()

    assert receipts[0].masked_id.encode() in db_bytes + wal_bytes  # the scan reads real data
    files = {"db(open)": db_bytes, "wal(open)": wal_bytes}
    for folder in (state, tmp_path / "usb"):
        for path in folder.rglob("*"):
            if path.is_file():
                files[str(path.relative_to(tmp_path))] = path.read_bytes()
    assert any(name.endswith(".ccsb") for name in files)
    logs = caplog.text.encode()
    assert b"capture saved" in logs
    needles = _needles(portrait, fingers)
    found = [
        (where, what)
        for where, blob in {**files, "logs": logs}.items()
        for what, needle in needles.items()
        if needle in blob
    ]
    assert found == []
