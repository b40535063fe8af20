"""1:1 comparison of a live frame with a chip portrait (dlib ResNet), and ``face compare``.

Shipped, public-domain images only: the test citizen's kiosk frame and chip portrait, and the
"other person" frame (tools/make_face_other_person.py).
"""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from appliance.cli import main
from appliance.config import FaceConfig
from appliance.errors import InvalidInput
from appliance.hal.sim import SIM_DATA
from appliance.imageio import read_image
from appliance.pipeline.face_match import (
    CANNOT_TELL,
    MATCH,
    NO_MATCH,
    FaceMatcher,
    decode_image,
    score_band,
)
from appliance.pipeline.face_match_bench import chip_like, threshold_for_fmr, wilson
from appliance.pipeline.face_match_cli import read_pairs

LIVE = SIM_DATA / "camera" / "portrait.jpg"
OTHER = SIM_DATA / "other_person.jpg"
CHIP = SIM_DATA / "citizen_portrait.jpg"


@pytest.fixture(scope="module")
def matcher() -> FaceMatcher:
    return FaceMatcher(FaceConfig())


@pytest.fixture(scope="module")
def chip_sample(matcher):
    return matcher.sample(decode_image(CHIP.read_bytes()))


def jp2_bytes(rgb: np.ndarray, rate: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[rate])
    return buf.getvalue()


def test_the_test_citizen_matches_the_chip_portrait(matcher, chip_sample):
    result = matcher.compare(matcher.sample(read_image(LIVE)), chip_sample)
    assert result.decision == MATCH
    assert result.similarity > 0.8 and result.similarity >= result.threshold
    assert result.quality[0]["ok"] and result.quality[1]["ok"]


def test_another_person_does_not_match(matcher, chip_sample):
    result = matcher.compare(matcher.sample(read_image(OTHER)), chip_sample)
    assert result.decision == NO_MATCH
    assert result.similarity < result.threshold - 0.1


def test_jpeg2000_chip_portrait(matcher):
    data = jp2_bytes(read_image(CHIP))
    assert data[4:8] == b"jP  "  # a JP2 file, as ISO/IEC 19794-5 allows in DG2
    result = matcher.compare(matcher.sample(read_image(LIVE)), matcher.sample(decode_image(data)))
    assert result.decision == MATCH


def test_no_face_is_cannot_tell(matcher, chip_sample):
    empty = np.full((480, 640, 3), 128, np.uint8)
    result = matcher.compare(matcher.sample(empty), chip_sample)
    assert result.decision == CANNOT_TELL and result.similarity is None
    assert result.quality[0]["reasons"] == ["no_face"]
    assert result.to_dict()["score_band"] == "none"


def test_tiny_face_is_cannot_tell_even_if_similar(matcher, chip_sample):
    import cv2

    small = cv2.resize(read_image(LIVE), (160, 120), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[180:300, 240:400] = small  # 25 px between the eyes, under the bar
    result = matcher.compare(matcher.sample(canvas), chip_sample)
    assert result.decision == CANNOT_TELL
    assert "face_too_small" in result.quality[0]["reasons"]


def test_threshold_comes_from_config(chip_sample):
    strict = FaceMatcher(FaceConfig(match_threshold=0.99))
    result = strict.compare(strict.sample(read_image(LIVE)), chip_sample)
    assert result.decision == NO_MATCH and result.threshold == 0.99


def test_embedding_is_not_in_the_result(matcher, chip_sample):
    d = matcher.compare(chip_sample, chip_sample).to_dict()
    assert set(d) == {"decision", "similarity", "threshold", "score_band", "quality"}
    assert "embedding" not in repr(chip_sample)


def test_decode_rejects_non_images():
    with pytest.raises(InvalidInput):
        decode_image(b"not an image")


def test_score_band():
    assert score_band(0.57) == "0.5-0.6"
    assert score_band(1.0) == "0.9-1.0"
    assert score_band(-0.2) == "-0.2--0.1"
    assert score_band(None) == "none"


def test_chip_like_degradation_and_stats():
    rgb = read_image(LIVE)
    for fmt in ("jpeg", "jp2"):
        out = chip_like(rgb, random.Random(1), fmt)
        assert 300 <= out.shape[0] <= 480 and out.shape[1] == int(out.shape[0] * 0.75)
    lo, hi = wilson(5, 100)
    assert lo < 0.05 < hi and wilson(0, 0) is None
    scores = {"impostor": list(np.linspace(0, 1, 1001))}
    thr = threshold_for_fmr(scores, 0.01)
    assert sum(s >= thr for s in scores["impostor"]) <= 10


# --- the command line -------------------------------------------------------------------------


def test_cli_compare_match(capsys):
    assert main(["face", "compare", str(LIVE), str(CHIP), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["decision"] == MATCH
    assert set(out["quality"]) == {"a", "b"}


def test_cli_pairs_json_lines(tmp_path, capsys):
    jp2 = tmp_path / "chip.jp2"
    jp2.write_bytes(jp2_bytes(read_image(CHIP)))
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{LIVE}\t{CHIP}\n{OTHER}\t{jp2}\n\n{LIVE}\t{tmp_path / 'missing.jpg'}\n")
    code = main(["face", "compare", "--pairs", str(pairs), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("decision") for line in lines] == [MATCH, NO_MATCH, None]
    assert lines[2]["ok"] is False and lines[2]["error"]["code"] == "invalid_input"
    assert lines[2]["line"] == 4
    assert code == 2


def test_cli_usage_errors(tmp_path, capsys):
    assert main(["face", "compare", str(LIVE), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["ok"] is False
    bad = tmp_path / "bad.tsv"
    bad.write_text("only-one-field\n")
    assert main(["face", "compare", "--pairs", str(bad), "--json"]) == 2
    assert "tab" in json.loads(capsys.readouterr().out)["error"]["message"]


# --- fuzz: the two parsers of outside input -------------------------------------------------

JPEG_HEAD = CHIP.read_bytes()[:600]


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=300).map(lambda b: JPEG_HEAD + b),
        st.binary(max_size=300).map(lambda b: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b),
    )
)
def test_fuzz_decode_image_only_raises_invalid_input(data):
    try:
        out = decode_image(data)
    except InvalidInput:
        return
    assert out.ndim == 3 and out.shape[2] == 3


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_pairs_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        pairs = read_pairs(str(path))
    except InvalidInput:
        return
    for number, a, b in pairs:
        assert number >= 1 and a and b and "\t" not in a + b
