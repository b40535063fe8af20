"""The image can speak: eSpeak NG and ALSA are installed, the kiosk browser may play sound, and
autoplay is allowed for the loopback kiosk page only."""

from __future__ import annotations

import json

from support import REPO_ROOT


def test_autoplay_is_allowed_for_the_kiosk_url_only():
    policy = json.loads(
        (REPO_ROOT / "image-build/files/etc/chromium/policies/managed/cccd-kiosk.json").read_text()
    )
    assert policy["AutoplayAllowed"] is False
    assert policy["AutoplayAllowlist"] == ["http://127.0.0.1:8080"] == policy["URLAllowlist"]


def test_image_and_test_setup_install_espeak_ng_and_alsa():
    build = (REPO_ROOT / "image-build/build.sh").read_text()
    kiosk_pkgs = build.split('if [ "$KIOSK" = 1 ]; then', 1)[1].split("fi", 1)[0]
    assert "espeak-ng" in kiosk_pkgs and "alsa-utils" in kiosk_pkgs
    setup = (REPO_ROOT / "scripts/setup.sh").read_text()
    assert "debs+=(espeak-ng)" in setup
    users = (REPO_ROOT / "systemd/appliance.sysusers.conf").read_text().split()
    assert " ".join(["m", "kiosk", "audio"]) in " ".join(users)  # /dev/snd for Chromium
