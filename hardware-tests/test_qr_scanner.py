"""QR scanner module (serial/USB-CDC or camera) on a real board.

Needs: ``qr_scanner.backend`` serial, hid or camera, the scanner connected, and
``APPLIANCE_HW_QR_EXPECT`` set to the exact text of a code you will show it (e.g. a printed
test card's QR). The test waits 20 s for the scan and compares byte for byte.
"""

from __future__ import annotations

import os

import pytest
from hwsupport import open_real


@pytest.fixture
def scanner(hw_config):
    dev = open_real(hw_config, "qr_scanner")
    yield dev
    dev.close()


def test_code_arrives_intact(scanner):
    expected = os.environ.get("APPLIANCE_HW_QR_EXPECT")
    if not expected:
        pytest.skip("scan: set APPLIANCE_HW_QR_EXPECT to the text of the code you will show")
    print("Show the test code to the scanner...")
    payload = scanner.read(timeout=20)
    assert payload is not None, "nothing scanned in 20 s"
    assert payload.decode("utf-8").strip() == expected
