"""Unbounded or untyped at the edges (issue 16, defect 8): floods, giant fields, odd TOML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_provision_validate import csca_cert, office_pub
from test_workflow_fakes import Driver

from appliance.cccd.qr import MAX_PAYLOAD_BYTES, QrError, build_payload, parse_qr
from appliance.citizen import TEST_CITIZEN
from appliance.pipeline.workflows.kiosk import COMMAND_QUEUE
from appliance.provision import ERROR_NAME, ProvisionError, provision, read_status


async def test_a_command_flood_is_bounded():
    async with Driver() as d:
        await d.screen("home")
        big = {"x": "y" * 60_000}
        for _ in range(1500):  # 1,500 commands of 60 KB, typed for this screen, in one burst
            d.send("no_such_command", **big)
        assert d.kiosk._queue.qsize() <= COMMAND_QUEUE
        assert d.kiosk.dropped_commands >= 1500 - COMMAND_QUEUE
        d.send("lang", lang="en")  # the kiosk still answers
        assert d.kiosk.lang == "en" and d.view["screen"] == "home"


def test_a_200000_character_name_is_refused_before_parsing():
    good = build_payload(dict(TEST_CITIZEN))
    fields = good.split("|")
    fields[2] = "A" * 200_000
    with pytest.raises(QrError) as err:
        parse_qr("|".join(fields))
    assert err.value.code == "malformed" and str(MAX_PAYLOAD_BYTES) in err.value.message
    with pytest.raises(QrError) as err:
        parse_qr(("|".join(fields)).encode())
    assert err.value.code == "malformed"
    with pytest.raises(QrError):  # also the 12-digit-prefix 'unknown layout' path
        parse_qr("001090012345|" + "x" * 5000)


@pytest.mark.parametrize("field, size", [(2, 101), (5, 301)])
def test_name_and_address_have_card_sized_limits(field, size):
    fields = build_payload(dict(TEST_CITIZEN)).split("|")
    fields[field] = "A" * size
    with pytest.raises(QrError) as err:
        parse_qr("|".join(fields))
    assert err.value.code == "bad_text" and "longer than" in err.value.message
    fields[field] = "A" * (size - 1)
    assert parse_qr("|".join(fields)).layout == "cccd-2021"


def _card(tmp_path: Path, extra: str) -> Path:
    boot = tmp_path / "boot"
    (boot / "csca").mkdir(parents=True)
    (boot / "csca" / "vn.pem").write_bytes(csca_cert())
    (boot / "office.pub").write_bytes(office_pub())
    (boot / "provision.toml").write_text(
        'profile = "commune-kiosk"\ndevice_name = "kiosk-hn-01"\n\n[office]\n'
        'public_key = "office.pub"\n\n[operator]\npin = "246813"\n\n' + extra
    )
    return boot


@pytest.mark.parametrize(
    "extra, key",
    [
        ('[[appliance.ui]]\nlanguage = "en"\n', "appliance.ui"),
        ("[appliance.ui]\nfingers = [[1, 2], [3]]\n", "appliance.ui.fingers"),
    ],
)
def test_provision_array_of_tables_is_reported_not_a_crash(tmp_path, extra, key):
    boot = _card(tmp_path, extra)
    root = tmp_path / "root"
    with pytest.raises(ProvisionError) as err:
        provision(boot / "provision.toml", root)
    assert err.value.key == key
    status = read_status(root / "var/lib/appliance")
    assert status["ok"] is False and key in status["error"]["message"]
    assert key in (boot / ERROR_NAME).read_text()
    json.dumps(status)
