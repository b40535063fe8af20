"""The words of the kiosk (issue #17, defects 6 and 7): one name for each thing, the card's own
wording, one instruction at a time, and a receipt that says what it is for."""

from __future__ import annotations

import json
import re
from pathlib import Path

from appliance.kiosk_ui.server import guidance_tables
from appliance.pipeline.workflows.enrollment import EnrollmentWorkflow

I18N = Path(__file__).resolve().parent.parent / "appliance" / "kiosk_ui" / "i18n"
APP_JS = I18N.parent / "static" / "app.js"
VI = json.loads((I18N / "vi.json").read_text(encoding="utf-8"))
EN = json.loads((I18N / "en.json").read_text(encoding="utf-8"))


def vi_texts() -> list[str]:
    tables = guidance_tables()
    return [*VI.values(), *(t["vi"] for k in tables.values() for t in k.values())]


def test_7_the_fingerprint_sensor_has_one_name():
    texts = vi_texts()
    assert [t for t in texts if "cảm biến" in t] == []
    assert any("máy quét vân tay" in t for t in texts)


def test_7_the_signature_line_is_unambiguous():
    assert "có chữ ký của cơ quan cấp thẻ" in VI["result.passive.genuine"]
    assert "do cơ quan cấp ký" not in " ".join(VI.values())


def test_7_the_timeout_question_and_its_button_use_the_same_word():
    assert "tiếp tục" in VI["error.body.timeout"].lower()
    assert VI["error.retry.timeout"].lower() == "tiếp tục"
    assert "error.retry.timeout" in APP_JS.read_text(encoding="utf-8")


def test_7_the_retry_screen_shows_one_instruction():
    js = APP_JS.read_text(encoding="utf-8")
    block = js[js.index('"enroll.finger_failed"') : js.index('"enroll.review"')]
    assert ".slice(0, 2)" not in block and ".slice(0, 1)" in block


def test_7_the_receipt_says_what_the_code_is_for_and_how_to_withdraw_and_waits_for_the_citizen():
    for table in (VI, EN):
        assert table["receipt.purpose"] and table["receipt.withdraw"]
    assert "rút lại" in VI["receipt.withdraw"] and "withdraw" in EN["receipt.withdraw"].lower()
    receipt = EnrollmentWorkflow.states["receipt"]
    assert receipt.timeout == "idle_s" and receipt.resets_on_touch  # not gone after 20 s


def test_6_the_keypad_asks_for_the_date_in_the_cards_own_words_and_its_key_is_vietnamese():
    assert "Có giá trị đến" in VI["keypad.expiry.title"]
    assert "hết hạn" not in VI["keypad.expiry.title"]
    assert "Có giá trị đến" in VI["error.body.wrong_key"]
    js = APP_JS.read_text(encoding="utf-8")
    assert not re.search(r'"OK"\)', js)  # every keypad's key says t("keypad.ok")
    assert VI["keypad.ok"] == "Tiếp tục"
    for key in ("keypad.error.short", "keypad.error.year_mismatch", "keypad.error.date_order"):
        assert VI[key] and EN[key], key


def test_8_the_gate_tells_visitors_without_a_cccd_where_to_go():
    assert "counter" in EN["gate.ready.no_cccd"].lower()
    assert VI["gate.ready.no_cccd"]
