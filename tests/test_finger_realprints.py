"""The score and feedback on a handful of real development prints, as an R307 delivers them.

The prints are research data in ../shared/data/prints (never copied into the repository); the
tests skip when that folder is absent. Only development fingers (101-105) are used here.
"""

import csv

import numpy as np
import pytest

from appliance.imageio import read_image
from appliance.pipeline.finger_quality import FingerQuality
from appliance.pipeline.finger_realprints import (
    LABELS_CSV,
    REFERENCE_CSV,
    catalogue,
    prints_dir,
    sensor_frame,
)

ROOT = prints_dir()
needs_prints = pytest.mark.skipif(ROOT is None, reason="no ../shared/data/prints (real prints)")

# by-eye labels from tools/data/finger-dev-labels.csv
CLEAN = ("FVC2004_DB1_B_102_5", "FVC2004_DB1_B_103_1", "FVC2002_DB2_B_102_2", "FVC2002_DB2_B_104_6")
CODED = {
    "FVC2004_DB1_B_101_8": "too_wet",
    "FVC2004_DB1_B_103_8": "too_wet",
    "FVC2004_DB1_B_103_6": "too_dry",
    "FVC2002_DB2_B_104_8": "too_dry",
    "FVC2004_DB1_B_102_1": "partial",
}


def path_of(name: str):
    group = name.rsplit("_", 2)[0]
    return ROOT / group / f"{name}.png"


@pytest.fixture(scope="module")
def assessor():
    return FingerQuality()


def test_reference_and_labels_cover_the_right_prints():
    with REFERENCE_CSV.open() as f:
        ref = list(csv.DictReader(f))
    assert len(ref) == 183
    splits = {r["split"] for r in ref}
    assert splits == {"dev", "final", "small"}
    assert sum(r["split"] == "final" for r in ref) == 80
    with LABELS_CSV.open() as f:
        labels = list(csv.DictReader(f))
    dev = {r["file"] for r in ref if r["split"] == "dev"}
    assert {r["file"] for r in labels} == dev  # no final-measurement print is labelled
    assert all(r["reason"] for r in labels)
    for name, code in CODED.items():
        assert any(r["file"].endswith(f"{name}.png") and r["label"] == code for r in labels)
    for name in CLEAN:
        assert any(r["file"].endswith(f"{name}.png") and r["label"] == "clean" for r in labels)
    assert all(p.split == "dev" for p in catalogue() if p.label)


@needs_prints
@pytest.mark.parametrize("name", CLEAN)
def test_clean_real_prints_pass_without_feedback(assessor, name):
    frame = sensor_frame(read_image(path_of(name), "L"), "r307")
    r = assessor.assess(frame)
    assert r.verdict == "pass" and r.feedback == [], (name, r.score, r.feedback)


@needs_prints
@pytest.mark.parametrize(("name", "code"), sorted(CODED.items()))
def test_real_prints_get_their_labelled_feedback(assessor, name, code):
    frame = sensor_frame(read_image(path_of(name), "L"), "r307")
    r = assessor.assess(frame)
    assert code in r.feedback, (name, r.score, r.feedback, r.features)


@needs_prints
def test_wet_prints_score_below_clean_ones(assessor):
    def score(name):
        return assessor.assess(sensor_frame(read_image(path_of(name), "L"), "r307")).score

    clean = np.median([score(n) for n in CLEAN])
    assert score("FVC2004_DB1_B_101_8") < clean - 10
