"""The hub's path end to end against a test server (signed manifest, rollout, resumed download,
install with a stand-in RAUC), and the `appliance update` command line contract."""

import hashlib
import json
import os

import pytest
from update_fakes import HAVE_RAUC, BundleInfo, FakeRauc, make_bundle, make_key
from update_server import UpdateServer

from appliance.cli import main
from appliance.config import load_config
from appliance.update import cli as update_cli
from appliance.update.errors import UpdateRefused
from appliance.update.installer import poll
from appliance.update.manifest import Manifest
from appliance.update.publish import load_private_key, sign_manifest
from appliance.update.state import UpdateState

NO_SERVICE = "http://127.0.0.1:9"
BODY = os.urandom(50_000)


def published(tmp_path, srv, *, version="0.3.0", pct=100, sites=None, key=None, body=BODY):
    if key is None:
        key, cert = make_key(tmp_path, "office")
    else:
        cert = None
    srv.add("/bundles/k.raucb", body)
    m = Manifest(
        version,
        "cccd-kiosk",
        "stable",
        "/bundles/k.raucb",
        hashlib.sha256(body).hexdigest(),
        len(body),
        pct,
        sites or {},
    )
    srv.add("/update/manifest.json", sign_manifest(m, load_private_key(key)))
    return key, cert


def kiosk_cfg(tmp_path, cert, site=""):
    cfg = load_config("sim")
    cfg.update.manifest_url = "http://will-be-set/update/manifest.json"
    cfg.update.keyring = str(cert)
    cfg.update.site = site
    cfg.service.device_name = "kiosk-0001"
    cfg.update.download_dir = str(tmp_path / "upd")
    return cfg


def rel(tmp_path, version="0.2.0"):
    f = tmp_path / "rel"
    f.write_text(f"VERSION={version}\n")
    return f


def test_poll_downloads_over_a_weak_link_and_installs(tmp_path):
    with UpdateServer() as srv:
        _, cert = published(tmp_path, srv)
        cfg = kiosk_cfg(tmp_path, cert)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        srv.cut_after = 20_000
        rauc = FakeRauc()
        rauc.verify = lambda path: BundleInfo("cccd-kiosk", "0.3.0")
        state = UpdateState(cfg.update_dir)
        out = poll(
            cfg,
            rauc=rauc,
            state=state,
            service_url=NO_SERVICE,
            sleep=lambda s: None,
            release_file=rel(tmp_path),
        )
    assert out["action"] == "installed" and out["slot"] == "B"
    assert rauc.installed_bytes[0] == BODY
    assert not rauc.installed[0].exists()  # the download is deleted once written into the slot
    assert any(r.startswith("bytes=") for _, r in srv.requests)  # it resumed
    assert state.pending["version"] == "0.3.0"


@pytest.mark.parametrize(
    "version,pct,sites,site,action",
    [
        ("0.2.0", 100, None, "", "up_to_date"),
        ("0.1.9", 100, None, "", "up_to_date"),
        ("0.3.0", 0, None, "", "not_in_rollout"),
        ("0.3.0", 0, {"xa-an-binh": 100}, "other", "not_in_rollout"),
    ],
)
def test_poll_installs_nothing_when_not_for_this_kiosk(tmp_path, version, pct, sites, site, action):
    with UpdateServer() as srv:
        _, cert = published(tmp_path, srv, version=version, pct=pct, sites=sites)
        cfg = kiosk_cfg(tmp_path, cert, site)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        rauc = FakeRauc()
        out = poll(
            cfg,
            rauc=rauc,
            state=UpdateState(cfg.update_dir),
            service_url=NO_SERVICE,
            release_file=rel(tmp_path),
        )
    assert out["action"] == action and rauc.installed == []
    assert not any(p == "/bundles/k.raucb" for p, _ in srv.requests)


def test_poll_skips_a_version_that_rolled_back(tmp_path):
    with UpdateServer() as srv:
        _, cert = published(tmp_path, srv)
        cfg = kiosk_cfg(tmp_path, cert)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        state = UpdateState(cfg.update_dir)
        state.record("rolled_back", "0.3.0", "trial failed")
        out = poll(
            cfg, rauc=FakeRauc(), state=state, service_url=NO_SERVICE, release_file=rel(tmp_path)
        )
    assert out["action"] == "skipped_failed_before"


def test_poll_refuses_a_manifest_signed_by_another_key(tmp_path):
    other_key, _ = make_key(tmp_path, "other")
    _, cert = make_key(tmp_path, "office")
    with UpdateServer() as srv:
        published(tmp_path, srv, key=other_key)
        cfg = kiosk_cfg(tmp_path, cert)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        with pytest.raises(UpdateRefused) as exc:
            poll(cfg, rauc=FakeRauc(), state=UpdateState(cfg.update_dir), service_url=NO_SERVICE)
    assert exc.value.code == "foreign_key"


def test_poll_refuses_a_bundle_that_differs_from_the_manifest(tmp_path):
    with UpdateServer() as srv:
        _, cert = published(tmp_path, srv)
        srv.files["/bundles/k.raucb"] = BODY[:-1] + b"!"
        cfg = kiosk_cfg(tmp_path, cert)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        rauc = FakeRauc()
        with pytest.raises(UpdateRefused) as exc:
            poll(
                cfg,
                rauc=rauc,
                state=UpdateState(cfg.update_dir),
                service_url=NO_SERVICE,
                sleep=lambda s: None,
                release_file=rel(tmp_path),
            )
    assert exc.value.code == "checksum" and rauc.installed == []


@pytest.fixture
def cli_rauc(monkeypatch, tmp_path):
    fake = FakeRauc()
    monkeypatch.setattr(update_cli, "make_rauc", lambda cfg: fake)
    monkeypatch.setattr(update_cli, "reboot", lambda: fake.boot())
    monkeypatch.setattr("appliance.update.installer.RELEASE_FILE", rel(tmp_path))
    return fake


def test_cli_from_usb_then_status(cli_rauc, tmp_path, capsys):
    bundle = tmp_path / "usb.raucb"
    bundle.write_bytes(b"x")
    cli_rauc.infos[bundle] = BundleInfo("cccd-kiosk", "0.3.0")
    assert main(["update", "--from", str(bundle), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["version"] == "0.3.0" and out["slot"] == "B"
    assert cli_rauc.booted == "B"  # rebooted into the new slot
    assert main(["update", "--status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["booted"] == "B" and st["pending"]["version"] == "0.3.0"
    assert st["last"]["result"] == "installed"
    assert [s["slot"] for s in st["slots"]] == ["A", "B"]


def test_cli_refusal_is_exit_2_with_the_error_object(cli_rauc, tmp_path, capsys):
    bundle = tmp_path / "old.raucb"
    bundle.write_bytes(b"x")
    cli_rauc.infos[bundle] = BundleInfo("cccd-kiosk", "0.1.0")
    assert main(["update", "--from", str(bundle), "--json"]) == 2
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["ok"] is False and out["error"]["code"] == "downgrade"
    assert "--allow-downgrade" in captured.err
    assert main(["update", "--from", str(tmp_path / "absent.raucb"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "missing"
    assert cli_rauc.installed == []


def test_cli_needs_exactly_one_action(capsys):
    for argv in (["update", "--json"], ["update", "--status", "--poll"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage"


@pytest.mark.skipif(not HAVE_RAUC, reason="rauc/mksquashfs not installed")
def test_office_signs_a_manifest_the_kiosk_accepts(tmp_path, capsys):
    key, cert = make_key(tmp_path, "office")
    bundle = make_bundle(tmp_path, "0.3.0", key, cert)
    out = tmp_path / "manifest.json"
    assert (
        main(
            [
                "update-manifest",
                str(bundle),
                "--key",
                str(key),
                "--keyring",
                str(cert),
                "--url",
                "bundles/k.raucb",
                "--default-pct",
                "10",
                "--site",
                "xa-an-binh=50",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["version"] == "0.3.0"
    from appliance.update.manifest import load_keyring, load_manifest

    m = load_manifest(out.read_bytes(), load_keyring(cert), base_url="https://hub/u/m.json")
    assert m.version == "0.3.0" and m.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert m.share_for("xa-an-binh") == 50 and m.share_for("x") == 10


def test_poll_refuses_a_bundle_whose_version_is_not_the_manifests(tmp_path):
    with UpdateServer() as srv:
        _, cert = published(tmp_path, srv, version="0.3.0")
        cfg = kiosk_cfg(tmp_path, cert)
        cfg.update.manifest_url = srv.url + "/update/manifest.json"
        rauc = FakeRauc()
        rauc.verify = lambda path: BundleInfo("cccd-kiosk", "0.9.0")  # a replayed other release
        with pytest.raises(UpdateRefused) as exc:
            poll(
                cfg,
                rauc=rauc,
                state=UpdateState(cfg.update_dir),
                service_url=NO_SERVICE,
                sleep=lambda s: None,
                release_file=rel(tmp_path),
            )
    assert exc.value.code == "version_mismatch" and rauc.installed == []
