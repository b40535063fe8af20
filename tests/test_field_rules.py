"""Demo-only settings are impossible outside the sim profile (issue 16, defect 9)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from test_provision_validate import csca_cert, office_pub

from appliance.config import load_config
from appliance.errors import ConfigError
from appliance.field_rules import EXAMPLE_SECRETS
from appliance.provision import ProvisionError, read_provision

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "provision.example.toml"
FIELD = ("commune-kiosk", "field-kit", "tourist-gate")


@pytest.mark.parametrize("profile", FIELD)
def test_demo_office_key_from_the_environment_is_refused_in_the_field(profile):
    with pytest.raises(ConfigError, match="demo office key") as err:
        load_config(profile, env={"APPLIANCE_STORE_DEMO_OFFICE_KEY": "1"})
    assert err.value.key == "store.demo_office_key"
    assert load_config("sim", env={"APPLIANCE_STORE_DEMO_OFFICE_KEY": "1"}).store.demo_office_key


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_listening_beyond_loopback_is_refused_in_the_field(host):
    with pytest.raises(ConfigError) as err:
        load_config("commune-kiosk", env={"APPLIANCE_SERVICE_HOST": host})
    assert err.value.key == "service.host"
    assert load_config("sim", env={"APPLIANCE_SERVICE_HOST": host}).service.host == host
    assert load_config("commune-kiosk", env={"APPLIANCE_SERVICE_HOST": "::1"}).service.host


def _card(tmp_path: Path, text: str) -> Path:
    (tmp_path / "csca").mkdir()
    (tmp_path / "csca" / "vn.pem").write_bytes(csca_cert())
    (tmp_path / "office_x25519.pub").write_bytes(office_pub())
    (tmp_path / "provision.toml").write_text(text)
    return tmp_path / "provision.toml"


def test_example_file_unchanged_is_refused_and_names_the_first_example_secret(tmp_path):
    path = _card(tmp_path, EXAMPLE.read_text())
    with pytest.raises(ProvisionError, match="example") as err:
        read_provision(path)
    assert err.value.key in ("operator.pin", "operator.admin_password", "office.upload_token")


@pytest.mark.parametrize(
    "key, own",
    [
        ("pin", 'pin = "582914"'),
        ("upload_token", 'upload_token = "site-issued-token-31337"'),
    ],
)
def test_each_example_secret_is_refused_on_its_own(tmp_path, key, own):
    text = EXAMPLE.read_text()
    mine = {"pin": 'pin = "582914"', "upload_token": 'upload_token = "site-issued-token-31337"'}
    for k, line in mine.items():
        if k != key:
            text = re.sub(rf'^{k} = ".*"$', line, text, flags=re.M)
    with pytest.raises(ProvisionError) as err:
        read_provision(_card(tmp_path, text))
    assert err.value.key.endswith("." + key)
    text = re.sub(rf'^{key} = ".*"$', own, text, flags=re.M)
    (tmp_path / "provision.toml").write_text(text)
    assert read_provision(tmp_path / "provision.toml").profile == "commune-kiosk"


def test_every_secret_in_the_example_is_known():
    raw = tomllib.loads(EXAMPLE.read_text())
    shown = {raw["operator"]["pin"], raw["office"]["upload_token"]}
    shown |= {raw["operator"][k] for k in ("admin_password",) if k in raw["operator"]}
    assert shown <= EXAMPLE_SECRETS


def test_provision_refuses_a_non_loopback_host_outside_sim(tmp_path):
    text = (
        'profile = "commune-kiosk"\ndevice_name = "k-01"\n[office]\n'
        'public_key = "office_x25519.pub"\n[operator]\npin = "582914"\n'
        '[appliance.service]\nhost = "0.0.0.0"\n'
    )
    with pytest.raises(ProvisionError) as err:
        read_provision(_card(tmp_path, text))
    assert err.value.key == "appliance.service.host"


def test_provision_check_refuses_demo_office_key(tmp_path):
    text = (
        'profile = "field-kit"\ndevice_name = "k-01"\n[office]\n'
        'public_key = "office_x25519.pub"\n[operator]\npin = "582914"\n'
        "[appliance.store]\ndemo_office_key = true\n"
    )
    from appliance.provision import _validate_site

    with pytest.raises(ProvisionError, match="demo office key"):
        _validate_site(read_provision(_card(tmp_path, text)))
