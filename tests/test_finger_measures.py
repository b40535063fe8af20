"""NFIQ 2 native measures (finger_measures) on synthetic patterns; the sensor-frame reduction."""

import numpy as np
import pytest

from appliance.hal.r30x_protocol import pack_image, unpack_image
from appliance.pipeline import fingerprint_synth as fs
from appliance.pipeline.finger_measures import (
    MEASURE_NAMES,
    crop_white_frame,
    measures,
    ocl_blocks,
    region_of_interest,
    segment,
)
from appliance.pipeline.finger_realprints import sensor_frame

YY, XX = np.mgrid[0:288, 0:256]


def wave(angle_deg: float, period: float = 9.0, amp: float = 80.0) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    img = 128 + amp * np.cos(2 * np.pi * (XX * np.cos(a) + YY * np.sin(a)) / period)
    return img.astype(np.uint8)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 135])
def test_a_perfect_sinusoid_is_certain_clear_and_smooth(angle):
    m = measures(wave(angle))
    assert set(m) == set(MEASURE_NAMES)
    assert m["OCL_Bin10_Mean"] > 0.99 and m["OCL_Bin10_StdDev"] < 0.01
    assert m["LCS_Bin10_Mean"] > 0.8  # NFIQ 2's orientation estimate is exact at 0/45/90 only
    assert m["OF_Bin10_Mean"] < 0.05  # no orientation change between blocks
    assert 0.8 < m["RVUP_Bin10_Mean"] < 1.25  # ridges as wide as valleys
    assert m["FDA_Bin10_Mean"] > 0.3


def test_axis_aligned_ridges_are_fully_clear():
    for angle in (0, 90):
        assert measures(wave(angle))["LCS_Bin10_Mean"] == pytest.approx(1.0, abs=1e-6)


def test_noise_has_no_orientation_certainty_or_clarity():
    noise = np.random.default_rng(1).normal(128, 40, (288, 256)).clip(0, 255).astype(np.uint8)
    m = measures(noise)
    assert m["OCL_Bin10_Mean"] < 0.3 and m["LCS_Bin10_Mean"] < 0.2 and m["OF_Bin10_Mean"] > 0.3


def test_ocl_is_one_minus_the_eigenvalue_ratio():
    # one 32x32 block of a vertical ramp: all gradient along x, none along y
    ramp = np.tile(np.arange(32, dtype=float), (32, 1))
    assert ocl_blocks(ramp) == pytest.approx([1.0])
    # a checkerboard-free isotropic pattern: the two eigenvalues equal
    r = np.hypot(*np.mgrid[-16:16, -16:16].astype(float))
    assert ocl_blocks(np.cos(r)).item() < 0.2


def test_mu_mmb_sigma_are_the_grey_statistics():
    img = wave(0)
    m = measures(img)
    assert m["Mu"] == pytest.approx(img.mean())
    assert m["Sigma"] == pytest.approx(img.std())
    assert m["MMB"] == pytest.approx(img.mean(), abs=1.0)  # 256x288 tiles exactly in 32x32


def test_white_frame_is_cropped_and_blank_halves_are_background():
    img = np.full((288, 256), 255, np.uint8)
    img[40:200, 30:150] = wave(0)[40:200, 30:150]
    assert crop_white_frame(img.astype(float)).shape == (160, 120)
    half = np.full((288, 256), 250, np.uint8)
    half[:, :128] = wave(0)[:, :128]
    mask = segment(half.astype(float))
    assert mask[:, :96].all() and not mask[:, 160:].any()
    roi = region_of_interest(half.astype(float))
    assert roi[:, :96].mean() > 0.9 and roi[:, 170:].mean() < 0.1


def test_blank_and_tiny_images_give_zeros_not_errors():
    assert measures(np.full((288, 256), 200, np.uint8))["OCL_Bin10_Mean"] == 0.0
    assert measures(np.full((40, 40), 255, np.uint8)) == dict.fromkeys(MEASURE_NAMES, 0.0)


def test_degraded_generated_prints_measure_worse():
    clean = measures(fs.render(fs.PrintSpec(seed=3)))
    for kind in ("noise", "smudge", "dry"):
        bad = measures(fs.render(fs.degraded(3, kind, 0.9)))
        assert bad["LCS_Bin10_Mean"] < clean["LCS_Bin10_Mean"] - 0.05, kind


def test_sensor_frame_is_the_modules_size_and_4_bit():
    platen = np.full((480, 640), 255, np.uint8)
    platen[100:388, 300:556] = wave(30)
    frame = sensor_frame(platen, "r307")
    assert frame.shape == (288, 256)
    assert set(np.unique(frame)) <= {v * 17 for v in range(16)}
    assert np.array_equal(frame, unpack_image(pack_image(frame), 288, 256))
    # centred on the finger: the wave fills the frame
    assert (frame.reshape(9, 32, 8, 32).std(axis=(1, 3)) > 20).mean() > 0.9
    assert sensor_frame(platen, "r503").shape == (192, 192)
    small = np.full((278, 308), 255, np.uint8)  # smaller than the frame: padded
    assert sensor_frame(small, "r307").shape == (288, 256)


def test_measures_hold_after_4_bit_quantisation():
    img = fs.render(fs.PrintSpec(seed=4))
    q = unpack_image(pack_image(img), *img.shape)
    a, b = measures(img), measures(q)
    for name in ("OCL_Bin10_Mean", "LCS_Bin10_Mean", "OF_Bin10_Mean"):
        assert abs(a[name] - b[name]) < 0.05, name
