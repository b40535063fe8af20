import io
import logging

from hypothesis import given
from hypothesis import strategies as st

from appliance.logs import mask_ids, setup_logging


def test_mask_examples():
    assert mask_ids("id 001090012345 ok") == "id 001******345 ok"
    assert mask_ids("0010900123456") == "0010900123456"  # 13 digits is not an ID
    assert mask_ids("a001090012345|079190000001") == "a001******345|079******001"


@given(st.text(alphabet="0123456789|, x", max_size=60))
def test_no_twelve_digit_run_survives(text):
    out = mask_ids(text)
    import re

    for run in re.findall(r"\d+", out):
        assert len(run) != 12


def test_every_record_masked_including_args_and_tracebacks():
    buf = io.StringIO()
    setup_logging("DEBUG", stream=buf)
    log = logging.getLogger("appliance.test.child")
    log.info("scanned %s", "001090012345")
    try:
        raise ValueError("bad id 079190000001")
    except ValueError:
        log.exception("failed for %s", "001090012345")
    out = buf.getvalue()
    assert "001090012345" not in out and "079190000001" not in out
    assert "001******345" in out and "079******001" in out
    assert len(out.strip().splitlines()) == 2  # one line per event
