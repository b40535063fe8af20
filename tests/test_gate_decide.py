"""GateDecider: each decision, the policies, the duplicate window and the keyed hash."""

import hashlib
from dataclasses import replace
from datetime import date

import pytest

from appliance.cccd.qr import build_payload
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.config import ConfigError, GateConfig, load_config
from appliance.pipeline.gate import GateDecider, is_admitted

TODAY = date(2025, 6, 1)
# Born 1999, card issued 2021: renewal at 25 (2024-01-01) was due: expired on TODAY.
EXPIRED = build_payload(
    {
        **TEST_CITIZEN,
        "id_number": "035199001234",
        "full_name": "TRẦN THỊ CÚC",
        "sex": "female",
        "date_of_birth": "1999-01-01",
        "issue_date": "2021-01-01",
    }
)
UNKNOWN_LAYOUT = "001090012345|123456789|NGUYỄN VĂN AN|15031990|Nam|Hà Nội|10042021|X|Y"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def decider(synced=True, **policy):
    clock = Clock()
    d = GateDecider(replace(GateConfig(), **policy), clock_ok=lambda: synced, monotonic=clock)
    return d, clock


def test_admit_with_clear_facts_only():
    d, _ = decider()
    out = d.decide(TEST_QR_PAYLOAD.encode(), today=TODAY)
    assert (out.decision, out.admitted, out.reason) == ("admit", True, None)
    assert out.age_band == "35-44" and out.sex == "male" and out.birth_code == "001"
    assert out.masked_id == "001******345" and out.layout == "cccd-2021"
    assert out.record is None  # nothing to seal unless seal_records
    shown = str(out.to_dict())
    assert "001090012345" not in shown and "NGUYỄN" not in shown


@pytest.mark.parametrize(("policy", "admitted"), [("refuse", False), ("admit", True)])
def test_expired_policy(policy, admitted):
    d, _ = decider(expired=policy)
    out = d.decide(EXPIRED.encode(), today=TODAY)
    assert out.decision == "expired" and out.admitted is admitted
    assert out.reason == f"policy_{policy}"
    assert is_admitted(out.decision, out.reason) is admitted
    assert out.sex == "female" and out.age_band == "25-34"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"hello world", "malformed"),
        (b"\xff\xfe garbage", "malformed"),  # not UTF-8
        ("東京|タワー".encode(), "malformed"),  # not Vietnamese text, not repairable
        (TEST_QR_PAYLOAD.replace("001090012345", "001190012345").encode(), "id_mismatch"),
        (TEST_QR_PAYLOAD.replace("15031990", "31021990").encode(), "bad_date"),
    ],
)
def test_invalid_with_the_error_code(payload, code):
    d, _ = decider()
    out = d.decide(payload, today=TODAY)
    assert (out.decision, out.admitted, out.reason) == ("invalid", False, code)
    assert out.masked_id is None and out.age_band is None


def test_shift_jis_garbage_from_a_scanner_is_repaired_then_admitted():
    payload = build_payload({**TEST_CITIZEN, "full_name": "Bùi Văn Ánh", "address": "Phủ Lý"})
    garbled = payload.encode().decode("shift_jis")  # a scanner module set to Shift-JIS output
    assert "Bﾃｹi Vﾄハ ﾃ］h" in garbled
    d, _ = decider()
    assert d.decide(garbled.encode(), today=TODAY).decision == "admit"


@pytest.mark.parametrize(("policy", "admitted"), [("admit", True), ("refuse", False)])
def test_unknown_layout_policy(policy, admitted):
    d, _ = decider(unknown_layout=policy)
    out = d.decide(UNKNOWN_LAYOUT.encode(), today=TODAY)
    assert out.decision == "unknown_layout" and out.admitted is admitted
    assert out.reason == f"policy_{policy}"
    # the birth year alone (from the ID number): the band is computed for 1 July of that year
    assert out.sex == "male" and out.birth_code == "001" and out.age_band == "25-34"


def test_duplicate_window():
    d, clock = decider(duplicate_window_s=600.0)
    assert d.decide(TEST_QR_PAYLOAD, today=TODAY).decision == "admit"
    clock.t += 599
    out = d.decide(TEST_QR_PAYLOAD, today=TODAY)
    assert (out.decision, out.admitted, out.reason) == ("duplicate", False, "seen_recently")
    clock.t += 2  # 601 s after the admission: the window runs from the admission
    assert d.decide(TEST_QR_PAYLOAD, today=TODAY).decision == "admit"
    assert d.remembered() == 1


def test_refused_cards_are_not_remembered_and_window_zero_is_off():
    d, _ = decider(expired="refuse")
    assert d.decide(EXPIRED, today=TODAY).decision == "expired"
    assert d.decide(EXPIRED, today=TODAY).decision == "expired"  # not "duplicate"
    d, _ = decider(duplicate_window_s=0.0)
    assert d.decide(TEST_QR_PAYLOAD, today=TODAY).decision == "admit"
    assert d.decide(TEST_QR_PAYLOAD, today=TODAY).decision == "admit"
    assert d.remembered() == 0


def test_memory_is_pruned_after_the_window():
    d, clock = decider(duplicate_window_s=100.0)
    d.decide(TEST_QR_PAYLOAD, today=TODAY)
    clock.t += 101 + 60
    d.decide(EXPIRED, today=TODAY)
    assert d.remembered() == 0


def test_unsynchronised_clock_does_not_refuse_a_card_valid_after_the_time_floor():
    d, _ = decider(synced=False, expired="refuse")
    # issue #17: a card that expired (2024) before the time floor (the build date at least) is
    # refused even without a synchronised clock; one valid after it is admitted, marked unsure
    out = d.decide(EXPIRED, today=TODAY)
    assert (out.decision, out.admitted, out.reason) == ("expired", False, "policy_refuse")
    # an issue date "in the future" of a wrong clock is not held against the card
    out = d.decide(TEST_QR_PAYLOAD, today=date(2020, 1, 1))
    assert (out.decision, out.admitted, out.reason) == ("admit", True, "clock_unsynced")


def test_keyed_hash_lives_in_memory_only():
    a, _ = decider()
    b, _ = decider()
    ident = "001090012345"
    assert a.card_key(ident) == a.card_key(ident)
    assert a.card_key(ident) != b.card_key(ident)  # a fresh random key per process
    plain = hashlib.sha256(ident.encode()).digest()
    assert a.card_key(ident) not in (plain, plain[:16])
    assert not hasattr(a.cfg, "key")


def test_seal_records_carries_the_parsed_record():
    d, _ = decider(seal_records=True)
    out = d.decide(TEST_QR_PAYLOAD, today=TODAY)
    assert out.record["full_name"] == "NGUYỄN VĂN AN"
    assert out.record["id_number"] == "001090012345"
    assert "record" not in out.to_dict() and "NGUYỄN" not in repr(out)
    unknown = d.decide(UNKNOWN_LAYOUT, today=TODAY).record  # the text, to learn the layout from
    assert unknown["layout"] == "unknown" and unknown["payload"] == UNKNOWN_LAYOUT


def test_gate_config_validation(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[gate]\nexpired = "maybe"\n')
    with pytest.raises(ConfigError, match=r"gate\.expired"):
        load_config("tourist-gate", site)
    site.write_text("[gate]\nrelay_pulse_ms = 0\n")
    with pytest.raises(ConfigError, match=r"gate\.relay_pulse_ms"):
        load_config("tourist-gate", site)
    site.write_text('[gate]\nexpired = "admit"\nduplicate_window_s = 60\n')
    cfg = load_config("tourist-gate", site)
    assert cfg.gate.expired == "admit" and cfg.gate.duplicate_window_s == 60.0
