"""The hub's shipped files: its systemd unit verifies and is hardened, its config file loads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.hub.config import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "hub"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def test_example_config_loads_and_env_overrides(tmp_path):
    s = load_settings(DEPLOY / "hub.toml", env={})
    assert s.database_url.startswith("sqlite:////var/lib/appliance-hub/")
    assert s.secure_cookies and s.purge_after_days == 30.0
    s = load_settings(DEPLOY / "hub.toml", env={"APPLIANCE_HUB_PORT": "9000"})
    assert s.port == 9000
    bad = tmp_path / "hub.toml"
    bad.write_text("[hub]\nportt = 1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(bad, env={})
    bad.write_text('[hub]\nport = "x"\n')
    with pytest.raises(ConfigError, match="expected int"):
        load_settings(bad, env={})


@needs_analyze
def test_hub_unit_verifies_and_exposure_at_most_3(tmp_path):
    unit = DEPLOY / "appliance-hub@.service"
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 3.0
    root = tmp_path / "root"
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    host_units = Path("/usr/lib/systemd/system")
    if host_units.is_dir():
        shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy(unit, etc / "appliance-hub@.service")
    binary = root / "opt/appliance-hub/venv/bin/appliance"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    proc = subprocess.run(
        [ANALYZE, "verify", f"--root={root}", "--man=no", "appliance-hub@1.service"],
        cwd=etc,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_kiosk_image_carries_no_hub_dependency():
    import tomllib

    root = DEPLOY.parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    hub = {r.split("==")[0] for r in project["optional-dependencies"]["hub"]}
    kiosk = {r.split("==")[0] for r in project["dependencies"]}
    kiosk |= {r.split("==")[0] for r in project["optional-dependencies"]["pi"]}
    assert hub and not hub & kiosk
    assert all("==" in r for r in project["optional-dependencies"]["hub"])
    # the image takes dependencies + pi only, and no unit from deploy/hub
    customize = (root / "image-build" / "customize.sh").read_text()
    assert 'project["dependencies"] + project["optional-dependencies"].get("pi", [])' in customize
    assert "deploy/hub" not in customize


def test_hub_commands_say_when_the_hub_extra_is_missing(monkeypatch, capsys):
    import builtins
    import json

    from appliance.cli import main

    real = builtins.__import__

    def no_sqlalchemy(name, *args, **kw):
        if name.startswith(("sqlalchemy", "appliance.hub.db")):  # as on a kiosk image
            raise ModuleNotFoundError("No module named 'sqlalchemy'", name="sqlalchemy")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_sqlalchemy)
    code = main(["hub", "devices", "--database", "sqlite://", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["error"]["code"] == "hub_extra_missing"
