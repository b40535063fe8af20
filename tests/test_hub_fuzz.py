"""Fuzzing what the hub parses from the network: heartbeats and bundle uploads never crash it,
they are accepted or refused with a typed error."""

from __future__ import annotations

import hashlib
import json

from hub_support import Kiosk, office
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.errors import InvalidInput
from appliance.hub.errors import RefusedBundle
from appliance.hub.heartbeats import parse_beat
from appliance.hub.ingest import Upload, _verify

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), JSONISH.map(lambda o: json.dumps(o).encode())))
def test_heartbeat_parser_accepts_or_refuses(raw):
    try:
        beat = parse_beat(raw)
    except InvalidInput as exc:
        assert exc.code == "bad_beat"
        return
    assert isinstance(beat["seq"], int) and beat["seq"] >= 0


def _fixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    _, _, pub = office(folder / "office")
    kiosk = Kiosk(folder / "k")
    device = {"key_id": kiosk.key.key_id, "public_key_pem": kiosk.pub}
    return kiosk, device, kiosk.bundle(pub)


def test_bundle_checks_refuse_every_mutation(tmp_path_factory):
    kiosk, device, good = _fixture(tmp_path_factory)
    bid = kiosk.headers(good)["Idempotency-Key"]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.integers(min_value=0, max_value=len(good) - 1),
        st.integers(min_value=1, max_value=255),
        st.integers(min_value=0, max_value=len(good) - 1),  # a proper prefix
    )
    def check(pos, flip, cut):
        for body in (good[:pos] + bytes([good[pos] ^ flip]) + good[pos + 1 :], good[:cut]):
            headers = {**kiosk.headers(good), "X-Bundle-SHA256": hashlib.sha256(body).hexdigest()}
            try:
                _verify(Upload(bid, headers, body), device, None)
            except RefusedBundle as exc:
                assert exc.status == 422 and exc.code
                continue
            raise AssertionError(f"a changed bundle was accepted (pos {pos}, cut {cut})")

    check()
    assert _verify(Upload(bid, kiosk.headers(good), good), device, None)["bundle_id"] == bid
