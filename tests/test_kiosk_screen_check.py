"""The boot test's screenshot check (image-build/kiosk_screen.py) on known screens.

The rendered start page (docs/screenshots/home*.png, from the UI tests' browser) passes; every
other kiosk screen, the hub's pages, a blank, a black and a text-console picture fail.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "docs" / "screenshots"
spec = importlib.util.spec_from_file_location("kiosk_screen", REPO / "image-build/kiosk_screen.py")
kiosk_screen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kiosk_screen)


# the start page of a kiosk that cannot save (verification only) is the start page too
@pytest.mark.parametrize("name", ["home.png", "home-en.png", "enroll-blocked-800x480.png"])
def test_the_start_page_passes(name):
    ok, figures = kiosk_screen.is_start_page(Image.open(SHOTS / name))
    assert ok, figures


OTHERS = sorted(
    p.name
    for p in SHOTS.glob("*.png")
    if not p.name.startswith(("home", "qemu-kiosk", "enroll-blocked"))
)


@pytest.mark.parametrize("name", OTHERS)
def test_other_screens_fail(name):
    ok, figures = kiosk_screen.is_start_page(Image.open(SHOTS / name))
    assert not ok, figures


def test_blank_black_and_console_fail(tmp_path):
    console = Image.new("RGB", (1280, 800), "black")
    draw = ImageDraw.Draw(console)
    for i in range(40):
        draw.text((8, 8 + 18 * i), f"[  OK  ] Started unit-{i}.service", fill=(200, 200, 200))
    for im in (Image.new("RGB", (1280, 800), "white"), Image.new("RGB", (1280, 800)), console):
        ok, _ = kiosk_screen.is_start_page(im)
        assert not ok
    # and the command line the boot test runs exits non-zero on it
    console.save(tmp_path / "c.ppm")
    assert kiosk_screen.main(["x", str(tmp_path / "c.ppm"), str(tmp_path / "c.png")]) == 1
    assert (tmp_path / "c.png").exists()
