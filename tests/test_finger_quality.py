"""Generated prints, quality features, the TFLite score, feedback codes, the shim and the CLI."""

import builtins
import json

import numpy as np
import pytest

from appliance.cli import main
from appliance.errors import BackendMissing, InvalidInput
from appliance.pipeline import fingerprint_synth as fs
from appliance.pipeline import inference
from appliance.pipeline.finger_quality import (
    FEATURE_NAMES,
    FEEDBACK_CODES,
    INSTRUCTIONS,
    MODEL_INPUTS,
    MODEL_PATH,
    FingerQuality,
    features,
)

SEEDS = (11, 12)


@pytest.fixture(scope="module")
def assessor():
    return FingerQuality()


@pytest.fixture(scope="module")
def prints():
    """name -> list of images (one per seed)."""
    specs = {
        "clean": lambda s: fs.PrintSpec(seed=s),
        "wet": lambda s: fs.degraded(s, "wet", 0.6),
        "dry": lambda s: fs.degraded(s, "dry", 0.6),
        "partial": lambda s: fs.degraded(s, "partial", 0.7),
        "blank": lambda s: fs.PrintSpec(seed=s, present=False),
        "low_contrast": lambda s: fs.degraded(s, "low_contrast", 0.75),
        "off_center": lambda s: fs.degraded(s, "off_center", 0.7),
        "smudge": lambda s: fs.degraded(s, "smudge", 0.8),
    }
    return {name: [fs.render(make(s)) for s in SEEDS] for name, make in specs.items()}


def test_generator_is_deterministic_and_seeded():
    a = fs.synthesize(5)
    assert a.shape == (288, 256) and a.dtype == np.uint8
    assert np.array_equal(a, fs.synthesize(5))
    assert not np.array_equal(a, fs.synthesize(6))
    assert fs.synthesize(5, rows=192, cols=192).shape == (192, 192)
    # the same finger under two impressions shares its ridges
    wet = fs.render(fs.degraded(5, "wet", 0.3))
    assert np.corrcoef(a.ravel(), wet.ravel())[0, 1] > 0.5


def test_target_quality_falls_with_every_degradation():
    for kind in fs.DEGRADATIONS:
        q = [fs.target_quality(fs.degraded(1, kind, lv)) for lv in (0, 0.3, 0.6, 1.0)]
        assert q[0] == 100.0 and q == sorted(q, reverse=True) and q[-1] < 25, kind
    assert fs.target_quality(fs.PrintSpec(present=False)) == 0.0


def test_features_on_an_ideal_ridge_wave():
    yy, xx = np.mgrid[0:288, 0:256]
    angle = np.deg2rad(30)
    wave = 128 + 80 * np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / 9.3)
    f = features(wave.astype(np.uint8))
    assert set(f) == set(FEATURE_NAMES)
    assert f["area"] > 0.95 and f["ocl"] > 0.95 and f["lcs"] > 0.8 and f["of"] < 0.05
    assert f["wet_blobs"] == 0.0 and f["center_offset"] < 0.05 and f["roi_area"] == 1.0


def test_features_reject_bad_shapes():
    with pytest.raises(InvalidInput):
        features(np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidInput):
        features(np.zeros((100, 100, 3), np.uint8))


def test_clean_prints_pass_without_feedback(assessor, prints):
    for img in prints["clean"]:
        r = assessor.assess(img)
        assert r.verdict == "pass" and r.score >= 80 and r.feedback == []


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("wet", "too_wet"),
        ("dry", "too_dry"),
        ("partial", "partial"),
        ("blank", "no_finger"),
        ("low_contrast", "low_contrast"),
        ("off_center", "off_center"),
        ("smudge", "smudged"),
    ],
)
def test_feedback_codes(assessor, prints, name, code):
    # a heavy smear erases the ridges over part of the frame: on the sensor's frame that reads
    # as missing contact for one of the two generated fingers
    allowed = {code, "partial"} if name == "smudge" else {code}
    for img in prints[name]:
        r = assessor.assess(img)
        assert allowed & set(r.feedback), (name, r.feedback, r.features)
        assert r.verdict == "fail" or name == "off_center"
        assert r.score < assessor.assess(prints["clean"][0]).score


def test_smudge_is_named_on_the_first_generated_finger(assessor, prints):
    assert "smudged" in assessor.assess(prints["smudge"][0]).feedback


def test_blank_scores_zero_and_fails(assessor, prints):
    r = assessor.assess(prints["blank"][0])
    assert r.score == 0.0 and r.verdict == "fail" and r.feedback == ["no_finger"]


def test_score_falls_with_degradation(assessor):
    for kind in ("wet", "dry", "noise", "blur", "partial"):
        scores = [assessor.assess(fs.render(fs.degraded(21, kind, lv))).score for lv in (0, 0.5, 1)]
        assert scores[0] > scores[1] > scores[2], (kind, scores)


def test_every_code_has_vietnamese_and_english():
    assert set(INSTRUCTIONS) == set(FEEDBACK_CODES)
    for code in FEEDBACK_CODES:
        assert INSTRUCTIONS[code]["vi"] and INSTRUCTIONS[code]["en"]
        assert INSTRUCTIONS[code]["vi"] != INSTRUCTIONS[code]["en"]


def test_result_dict_has_instructions(assessor, prints):
    d = assessor.assess(prints["wet"][0]).to_dict()
    assert d["instructions"][0]["code"] == "too_wet"
    assert d["instructions"][0]["vi"].startswith("Ngón tay quá ướt")
    assert set(d["ms"]) == {"features", "model", "total"}


# --- the inference shim ------------------------------------------------------------------------


def test_shim_runs_the_model_with_any_batch():
    model = inference.load_model(MODEL_PATH)
    assert model.input_shapes() == [(1, len(MODEL_INPUTS))]
    (one,) = model.run(np.zeros((1, len(MODEL_INPUTS)), np.float32))
    (many,) = model.run([np.zeros((5, len(MODEL_INPUTS)), np.float64)])
    assert many.shape == (5, 1) and np.allclose(many, one[0, 0])
    assert 0.0 <= float(one[0, 0]) <= 100.0


def test_shim_errors_are_typed(tmp_path):
    with pytest.raises(inference.ModelError, match="not found"):
        inference.load_model(tmp_path / "missing.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(inference.ModelError):
        inference.load_model(bad)
    model = inference.load_model(MODEL_PATH)
    with pytest.raises(inference.ModelError):
        model.run([np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)])


def test_shim_names_what_to_install_without_a_runtime(monkeypatch):
    real_import = builtins.__import__

    def no_tflite(name, *args, **kwargs):
        if name.startswith(("ai_edge_litert", "tflite_runtime")):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tflite)
    for mod in [m for m in list(__import__("sys").modules) if m.startswith("ai_edge_litert")]:
        monkeypatch.delitem(__import__("sys").modules, mod)
    with pytest.raises(BackendMissing, match="pip install ai-edge-litert") as info:
        inference.load_model(MODEL_PATH)
    assert "tflite-runtime" in info.value.message


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_check_json_lines(tmp_path, capsys, prints):
    from PIL import Image

    good, wet = tmp_path / "good.png", tmp_path / "wet.png"
    Image.fromarray(prints["clean"][0]).save(good)
    Image.fromarray(prints["wet"][0]).save(wet)
    assert main(["finger", "check", str(good), str(wet), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["file"] for d in lines] == [str(good), str(wet)]
    assert lines[0]["ok"] and lines[0]["verdict"] == "pass" and 0 <= lines[0]["score"] <= 100
    assert lines[1]["verdict"] == "fail" and "too_wet" in lines[1]["feedback"]
    assert set(lines[0]["features"]) == set(FEATURE_NAMES) and lines[0]["ms"] > 0


def test_cli_check_missing_file_exits_2_after_the_others(tmp_path, capsys, prints):
    from PIL import Image

    good = tmp_path / "good.png"
    Image.fromarray(prints["clean"][1]).save(good)
    (tmp_path / "junk.png").write_bytes(b"nope")
    code = main(
        [
            "finger",
            "check",
            str(tmp_path / "nope.png"),
            str(tmp_path / "junk.png"),
            str(good),
            "--json",
        ]
    )
    assert code == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["ok"] for d in lines] == [False, False, True]
    assert lines[0]["error"]["code"] == "invalid_input" and lines[0]["file"].endswith("nope.png")


def test_cli_synth_then_check(tmp_path, capsys):
    assert (
        main(["finger", "synth", str(tmp_path), "--seed", "3", "--degrade", "dry:0.7", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    (item,) = out["prints"]
    assert item["target_quality"] == pytest.approx(30.0)
    assert main(["finger", "check", item["file"], "--json"]) == 0
    assert "too_dry" in json.loads(capsys.readouterr().out)["feedback"]
    assert main(["finger", "synth", str(tmp_path), "--degrade", "soggy:1", "--json"]) == 2


def test_cli_capture_from_the_sim_sensor(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("APPLIANCE_FINGERPRINT_SIM_FINGER_DELAY_S", "0.01")
    out = tmp_path / "print.png"
    assert main(["finger", "capture", "--sim", "--out", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] and out.is_file() and d["verdict"] in ("pass", "fail")


def test_bench_command_runs_small(tmp_path, capsys):
    code = main(
        [
            "bench",
            "finger",
            "--images",
            "2",
            "--heldout",
            "0",
            "--no-serial",
            "--real",
            "none",
            "--record",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["quality"]["images"] == 2 and out["quality"]["threads_1"]["total_ms_median"] > 0
    recorded = json.loads(next(tmp_path.glob("finger-*.json")).read_text())
    assert recorded["machine"]["cores"] and recorded["quality"] == out["quality"]


def test_bench_rejects_unknown_real_splits_and_frames(capsys):
    assert main(["bench", "finger", "--real", "everything", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_input"
    assert main(["bench", "finger", "--real", "dev", "--frames", "r999", "--json"]) == 2
