"""Rollout share per site: deterministic, proportional, and growing without reshuffling."""

import pytest

from appliance.update.errors import UpdateRefused
from appliance.update.manifest import Manifest
from appliance.update.rollout import bucket, selected
from appliance.update.version import Version, check_upgrade


def offer(pct=0, sites=None, version="0.2.0", stopped=False):
    return Manifest(
        "0.2.0" if version is None else version,
        "cccd-kiosk",
        "stable",
        "https://hub/x.raucb",
        "ab" * 32,
        10,
        pct,
        sites or {},
        stopped,
    )


DEVICES = [f"kiosk-{i:04d}" for i in range(2000)]


def test_same_device_same_answer():
    m = offer(30)
    assert [selected(m, "", d) for d in DEVICES] == [selected(m, "", d) for d in DEVICES]
    assert all(0 <= bucket("0.2.0", d) < 100 for d in DEVICES)


def test_share_is_roughly_the_fraction_of_devices():
    for pct in (5, 30, 70):
        chosen = sum(selected(offer(pct), "", d) for d in DEVICES)
        assert abs(chosen / len(DEVICES) - pct / 100) < 0.04, (pct, chosen)


def test_raising_the_share_keeps_the_first_devices_in():
    first = {d for d in DEVICES if selected(offer(10), "", d)}
    later = {d for d in DEVICES if selected(offer(40), "", d)}
    assert first and first < later


def test_zero_and_all_and_stopped():
    assert not any(selected(offer(0), "", d) for d in DEVICES)
    assert all(selected(offer(100), "", d) for d in DEVICES)
    assert not any(selected(offer(100, stopped=True), "", d) for d in DEVICES)


def test_a_site_share_overrides_the_default():
    m = offer(0, {"xa-an-binh": 100})
    assert all(selected(m, "xa-an-binh", d) for d in DEVICES[:50])
    assert not any(selected(m, "other-site", d) for d in DEVICES[:50])


def test_each_release_picks_its_own_first_devices():
    a = {d for d in DEVICES if selected(offer(10, version="0.2.0"), "", d)}
    b = {d for d in DEVICES if selected(offer(10, version="0.3.0"), "", d)}
    assert a != b


def test_versions_compare_numerically_with_pre_releases_first():
    order = ["0.1.0", "0.2.0rc1", "0.2.0-rc.2", "0.2.0", "0.2.1", "0.10.0", "1.0"]
    assert sorted(order, key=Version) == order
    assert Version("1.0") == Version("1.0.0")


def test_downgrade_and_same_version_are_refused_unless_allowed():
    assert check_upgrade("0.1.0", "0.2.0") == "upgrade"
    with pytest.raises(UpdateRefused) as exc:
        check_upgrade("0.2.0", "0.1.0")
    assert exc.value.code == "downgrade" and "--allow-downgrade" in exc.value.message
    assert check_upgrade("0.2.0", "0.1.0", allow_downgrade=True) == "downgrade"
    with pytest.raises(UpdateRefused) as exc:
        check_upgrade("0.2.0", "0.2.0", allow_downgrade=True)
    assert exc.value.code == "same_version"
    with pytest.raises(UpdateRefused) as exc:
        check_upgrade("0.2.0", "latest")
    assert exc.value.code == "bad_version"
