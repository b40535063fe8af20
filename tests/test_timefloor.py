"""The time floor (issue #17, defect 3): expiry judged without a synchronised clock."""

from __future__ import annotations

import json
from datetime import date

from appliance.timefloor import (
    CARDS_NEEDED,
    FLOOR_FILE,
    MAX_CARD_STEP_DAYS,
    SOFTWARE_DATE,
    TimeFloor,
)


def floor_at(tmp_path, synced=False, today=date(2031, 5, 2), build=None):
    build_file = tmp_path / "build-date"
    if build:
        build_file.write_text(build + "\n")
    return TimeFloor(
        tmp_path / "state", build_date_file=build_file, synced=lambda: synced, today=lambda: today
    )


def test_a_card_expired_in_2015_is_expired_on_a_clock_that_woke_up_in_1970(tmp_path):
    tf = floor_at(tmp_path)
    assert tf.floor() == SOFTWARE_DATE
    assert tf.expired(date(2015, 5, 1)) is True
    assert tf.expired(date(2030, 3, 15)) is None  # cannot be said: the screens say why
    assert tf.expired(None) is False  # a card without expiry
    assert tf.status() == {"synced": False, "floor": SOFTWARE_DATE.isoformat(), "source": "build"}


def test_the_build_date_raises_the_floor(tmp_path):
    tf = floor_at(tmp_path, build="2028-02-03")
    assert tf.floor() == date(2028, 2, 3)
    assert tf.expired(date(2028, 1, 1)) is True
    (tmp_path / "x").mkdir()
    assert floor_at(tmp_path / "x", build="not a date").floor() == SOFTWARE_DATE


def test_the_last_synchronised_day_is_kept_across_a_restart(tmp_path):
    tf = floor_at(tmp_path, synced=True, today=date(2031, 5, 2))
    assert tf.today() == (date(2031, 5, 2), True)
    assert tf.expired(date(2031, 5, 1)) is True and tf.expired(date(2031, 6, 1)) is False
    kept = json.loads((tmp_path / "state" / FLOOR_FILE).read_text())
    assert kept == {"floor": "2031-05-02", "source": "clock"}
    after_power_cut = floor_at(tmp_path, synced=False)
    assert after_power_cut.floor() == date(2031, 5, 2)
    assert after_power_cut.expired(date(2031, 4, 30)) is True


def test_issue_dates_move_the_floor_only_when_several_cards_show_them(tmp_path):
    tf = floor_at(tmp_path)
    later = date(SOFTWARE_DATE.year + 1, 1, 10)
    tf.saw_card("a", later)
    assert tf.floor() == SOFTWARE_DATE  # one card (maybe a forged QR) is not enough
    tf.saw_card("a", later)  # the same card again neither
    assert tf.floor() == SOFTWARE_DATE
    for i in range(1, CARDS_NEEDED):
        tf.saw_card(f"card{i}", later)
    assert tf.floor() == later and tf.status()["source"] == "card"
    far = date(later.year + 5, 1, 1)  # far past the floor: ignored, however many cards say so
    for i in range(CARDS_NEEDED + 1):
        tf.saw_card(f"far{i}", far)
    assert tf.floor() == later
    assert (far - later).days > MAX_CARD_STEP_DAYS


def test_a_damaged_floor_file_falls_back_to_the_build_date(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / FLOOR_FILE).write_text("{not json")
    assert floor_at(tmp_path).floor() == SOFTWARE_DATE
