"""PC/SC contactless reader on a real board, and a full read of a real CCCD.

Needs: ``card_reader.backend = "pcsc"``, pcscd running and a reader attached. The full read
also needs a real card on the reader and its QR payload in ``APPLIANCE_HW_CCCD_QR`` (the test
derives the BAC key from it, reads the chip and runs passive authentication against
``card_reader.trust_dir``).
"""

from __future__ import annotations

import os

import pytest
from hwsupport import open_real


@pytest.fixture
def reader(hw_config):
    dev = open_real(hw_config, "card_reader")
    yield dev
    dev.close()


def test_reader_present(reader):
    assert reader.location(), "no reader name reported"


def test_full_read_with_passive_auth(reader, hw_config):
    payload = os.environ.get("APPLIANCE_HW_CCCD_QR")
    if not payload:
        pytest.skip(
            "full read: put a CCCD on the reader and set APPLIANCE_HW_CCCD_QR to its QR text"
        )
    from appliance.cccd.qr import parse_qr
    from appliance.icao.reader import read_card

    qr = parse_qr(payload)
    assert reader.wait_card(timeout=10), "no card on the reader within 10 s"
    result = read_card(reader, qr, trust_dir=hw_config.card_reader.trust_dir or None).to_dict()
    assert result["dg1"]["id_number"] == qr.id_number
    assert result["passive_auth"]["status"] in ("verified", "chain_unknown"), result["passive_auth"]
