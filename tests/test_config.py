import subprocess
import sys

import pytest

from appliance.config import PROFILES, load_config
from appliance.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_loads(profile):
    cfg = load_config(profile)
    assert cfg.profile == profile
    assert cfg.service.host == "127.0.0.1"


def test_default_profile_is_sim_with_simulated_devices():
    cfg = load_config()
    assert cfg.profile == "sim"
    assert cfg.camera.backend == "sim"
    assert cfg.indicators.backend == "mock"


def test_profile_modes():
    assert load_config("tourist-gate").service.mode == "checkin"
    assert load_config("field-kit").service.mode == "operator"
    assert load_config("commune-kiosk").camera.backend == "picamera2"


def test_unknown_key_names_file_and_key(tmp_path):
    f = write(tmp_path / "site.toml", "[camera]\nwidht = 640\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=f)
    assert info.value.file == str(f)
    assert info.value.key == "camera.widht"
    assert "unknown key" in str(info.value)


def test_unknown_section(tmp_path):
    f = write(tmp_path / "site.toml", "[camra]\nbackend = 'sim'\n")
    with pytest.raises(ConfigError, match=r"camra"):
        load_config(config_file=f)


def test_wrong_type_names_key(tmp_path):
    f = write(tmp_path / "site.toml", "[service]\nport = 'eighty'\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=f)
    assert info.value.key == "service.port"
    assert "expected int" in str(info.value)


def test_bool_is_not_an_int(tmp_path):
    f = write(tmp_path / "site.toml", "[service]\nport = true\n")
    with pytest.raises(ConfigError, match=r"service\.port"):
        load_config(config_file=f)


def test_int_accepted_for_float(tmp_path):
    f = write(tmp_path / "site.toml", "[camera]\nfps = 30\n")
    assert load_config(config_file=f).camera.fps == 30.0


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(config_file=tmp_path / "nope.toml")


def test_corrupt_toml(tmp_path):
    f = write(tmp_path / "site.toml", "[service\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config_file=f)


def test_binary_garbage(tmp_path):
    f = tmp_path / "site.toml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"site\.toml"):
        load_config(config_file=f)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile"):
        load_config("airport")


def test_unknown_backend(tmp_path):
    f = write(tmp_path / "site.toml", "[camera]\nbackend = 'kodak'\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=f)
    assert info.value.key == "camera.backend"


def test_site_file_from_config_dir_sets_profile(tmp_path, monkeypatch):
    write(tmp_path / "etc" / "appliance.toml", "profile = 'tourist-gate'\n")
    assert load_config().profile == "tourist-gate"
    assert load_config("field-kit").profile == "field-kit"  # the command line wins


def test_sim_flag_and_env_swap_every_backend(monkeypatch):
    cfg = load_config("commune-kiosk", sim=True)
    assert cfg.camera.backend == "sim" and cfg.indicators.backend == "mock"
    monkeypatch.setenv("APPLIANCE_SIM", "1")
    cfg = load_config("tourist-gate")
    assert cfg.qr_scanner.backend == "sim" and cfg.service.mode == "checkin"


def test_env_overrides_one_device_and_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("APPLIANCE_CARD_READER_BACKEND", "sim")
    monkeypatch.setenv("APPLIANCE_FINGERPRINT_BAUD", "115200")
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "s"))
    cfg = load_config("commune-kiosk")
    assert cfg.card_reader.backend == "sim"
    assert cfg.camera.backend == "picamera2"
    assert cfg.fingerprint.baud == 115200
    assert cfg.state_dir == tmp_path / "s"


def test_bad_env_value(monkeypatch):
    monkeypatch.setenv("APPLIANCE_SERVICE_PORT", "http")
    with pytest.raises(ConfigError, match="APPLIANCE_SERVICE_PORT"):
        load_config()


def test_cli_config_error_exits_2_without_traceback(tmp_path):
    f = write(tmp_path / "site.toml", "[camera]\nwidht = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--config", str(f), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "camera.widht" in proc.stdout
    assert '"code": "config"' in proc.stdout
