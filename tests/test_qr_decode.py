"""QR decoders: agreement on generated camera frames, zbar's garbling and its repair, the CLI."""

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.errors import InvalidInput
from appliance.pipeline.qr_decode import (
    VIETNAMESE_LETTERS,
    QrDecodeError,
    decode_image,
    get_decoder,
    payload_text,
    repair_mojibake,
)
from appliance.pipeline.qr_frames import QrFramePipeline
from appliance.pipeline.qr_synth import (
    GARBLED_BY_ZBAR,
    make_corpus,
    qr_image,
    read_manifest,
    save_frame,
)

GARBLED = "Bﾃｹi Vﾄハ ﾃ］h"  # DOMAIN.md section 1: what zbar's default mode makes of the name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qr-corpus")
    make_corpus(folder, count=14, seed=7)
    return read_manifest(folder)


def _gray(path):
    import cv2

    return cv2.imread(path, cv2.IMREAD_GRAYSCALE)


def test_corpus_has_both_resolutions_and_garbled_names(corpus):
    sizes = {(r["spec"]["width"], r["spec"]["height"]) for r in corpus}
    assert sizes == {(1280, 720), (640, 480)}
    assert any(GARBLED_BY_ZBAR in r["payload"] for r in corpus)
    assert len({r["spec"]["tags"][0] for r in corpus}) >= 5


def test_decoders_agree_on_generated_frames(corpus):
    zxing, zbar = get_decoder("zxing"), get_decoder("zbar")
    pipeline = QrFramePipeline("zxing")
    both = 0
    for row in corpus:
        gray = _gray(row["file"])
        texts = {}
        for name, dec in (("zxing", zxing), ("zbar", zbar)):
            hits = dec.decode(gray)
            if hits:
                texts[name] = payload_text(hits[0].data)
        pipeline.last_box = None
        hit = pipeline.find(gray)
        assert hit is not None, row["spec"]
        texts["pipeline"] = payload_text(hit.data)
        # Whatever a decoder returns is exactly the printed payload: never a wrong text.
        assert set(texts.values()) == {row["payload"]}, (row["file"], texts)
        both += len(texts) == 3
    assert both >= len(corpus) - 2  # zbar may miss a hard frame or two; zxing none


def test_zbar_default_mode_garbles_and_binary_mode_does_not():
    payload = f"001090012345||{GARBLED_BY_ZBAR}|15031990|Nam|Số 1 Phố X, Hà Nội|10042021"
    # zxing's writer puts the name in a byte segment of its own, which zbar reads as Shift-JIS
    img = qr_image(payload.encode(), module_px=4, writer="zxing")
    raw_default = get_decoder("zbar-default").decode(img)[0].data
    raw_binary = get_decoder("zbar").decode(img)[0].data
    assert raw_binary == payload.encode()
    garbled = raw_default.decode("utf-8")
    assert GARBLED in garbled  # the damage DOMAIN.md describes, reproduced
    assert payload_text(raw_default) == payload  # ... and repaired
    assert payload_text(get_decoder("zxing").decode(img)[0].data) == payload


def test_zbar_default_garbles_corpus_names_that_binary_reads(corpus):
    default, binary = get_decoder("zbar-default"), get_decoder("zbar")
    garbled = 0
    for row in corpus:
        if GARBLED_BY_ZBAR not in row["payload"]:
            continue
        gray = _gray(row["file"])
        hits_d, hits_b = default.decode(gray), binary.decode(gray)
        if hits_d and hits_b:
            assert hits_b[0].data.decode() == row["payload"]
            garbled += hits_d[0].data.decode("utf-8") != row["payload"]
            assert payload_text(hits_d[0].data) == row["payload"]
    assert garbled >= 1


def test_opencv_never_returns_a_wrong_text(corpus):
    dec = get_decoder("opencv")
    for row in corpus[:6]:
        for hit in dec.decode(_gray(row["file"])):
            assert payload_text(hit.data) == row["payload"]


@pytest.mark.parametrize(
    ("garbage", "expected"),
    [
        (GARBLED, GARBLED_BY_ZBAR),
        ("BÃ¹i VÄ\x83n Ã\x81nh", GARBLED_BY_ZBAR),  # Latin-1 reading of the same bytes
        ("ﾄ雪ｺｷng H盻ｯu Phﾆｰ盻嫩", "Đặng Hữu Phước"),
        # zbar repairs per chunk: garbage and correct text alternate (Big5 here)
        ("廙沐G GIA TH廕奘G|Số 1", "ỨNG GIA THẮNG|Số 1"),
    ],
)
def test_repair_mojibake(garbage, expected):
    assert payload_text(garbage.encode()) == expected
    assert repair_mojibake(garbage)[0] == expected


@pytest.mark.parametrize(
    "text", ["東京タワー", "ﾃ", "Привет", "B\x01i", "Bﾃｹi \x00"]
)  # not Vietnamese, and no exact round trip to Vietnamese UTF-8
def test_unrepairable_text_is_malformed(text):
    with pytest.raises(QrDecodeError) as exc:
        payload_text(text.encode())
    assert exc.value.code == "malformed"


def test_payload_text_utf8_nfc_and_bytes_that_are_not_utf8():
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn An")
    assert payload_text(nfd.encode()) == "Nguyễn Văn An"
    assert repair_mojibake("NGUYỄN VĂN AN") is None  # genuine text is left alone
    with pytest.raises(QrDecodeError) as exc:
        payload_text(b"B\xf9i V\xe3n")  # cp1258 bytes, no ECI
    assert exc.value.code == "malformed"
    assert payload_text(b"B\xf9i", eci_text="Bùi") == "Bùi"  # the symbol declared its charset


VIET_TEXT = st.text(
    alphabet=st.sampled_from(sorted(VIETNAMESE_LETTERS) + list("abcXYZ019 |,.-")), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(VIET_TEXT)
def test_genuine_vietnamese_text_is_never_altered(text):
    assert payload_text(text.encode()) == text


@settings(max_examples=300, deadline=None)
@given(VIET_TEXT, st.sampled_from(["shift_jis", "cp932", "big5", "latin-1", "cp1252"]))
def test_garbage_is_repaired_exactly_or_rejected(text, codec):
    try:
        garbage = text.encode().decode(codec)
    except UnicodeDecodeError:
        return
    try:
        out = payload_text(garbage.encode())
    except QrDecodeError:
        return
    assert out == text  # never a different text shown as a name


def test_get_decoder_unknown_name():
    with pytest.raises(InvalidInput):
        get_decoder("tesseract")


def test_decode_image_not_found():
    blank = np.full((240, 320), 200, np.uint8)
    with pytest.raises(QrDecodeError) as exc:
        decode_image(blank, get_decoder("zxing"))
    assert exc.value.code == "not_found"


def test_cli_decode_json_lines(corpus, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    save_frame(blank, np.full((120, 160, 3), 230, np.uint8))
    japanese = tmp_path / "jp.png"
    save_frame(japanese, np.repeat(qr_image("東京タワー".encode(), 4)[..., None], 3, axis=2))
    files = [corpus[0]["file"], str(blank), str(japanese), corpus[1]["file"]]
    code = main(["qr", "decode", *files, "--decoder", "zbar", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [line["file"] for line in lines] == files
    assert lines[0] == {
        "file": files[0],
        "ok": True,
        "payload": corpus[0]["payload"],
        "decoder": "zbar",
        "ms": lines[0]["ms"],
    }
    assert lines[1]["ok"] is False and lines[1]["error"]["code"] == "not_found"
    assert lines[2]["ok"] is False and lines[2]["error"]["code"] == "malformed"
    assert lines[3]["ok"] is True and lines[3]["payload"] == corpus[1]["payload"]


def test_cli_decode_missing_file_exits_2(corpus, tmp_path, capsys):
    code = main(["qr", "decode", str(tmp_path / "nope.jpg"), corpus[0]["file"], "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2
    assert lines[0]["error"]["code"] == "unreadable"
    assert lines[1]["ok"] is True and lines[1]["decoder"] == "zxing"
