"""Refusals before anything is written: real RAUC bundles (unsigned, another key, tampered),
another device kind, a downgrade; and the install path with a stand-in RAUC."""

import json
import subprocess
from pathlib import Path

import pytest
from update_fakes import HAVE_RAUC, BundleInfo, FakeRauc, make_bundle, make_key

from appliance.update.errors import UpdateFailed, UpdateRefused
from appliance.update.installer import install_bundle
from appliance.update.rauc import RaucCli, classify, parse_status
from appliance.update.state import UpdateState

needs_rauc = pytest.mark.skipif(not HAVE_RAUC, reason="rauc/mksquashfs not installed")
NO_SERVICE = "http://127.0.0.1:9"  # nothing listens: no service, so no citizen to wait for


@pytest.fixture
def signed(tmp_path):
    key, cert = make_key(tmp_path, "office")
    other_key, other_cert = make_key(tmp_path, "other")
    return {
        "key": key,
        "cert": cert,
        "other_key": other_key,
        "other_cert": other_cert,
        "dir": tmp_path,
    }


def release_file(tmp_path, version):
    f = tmp_path / "cccd-release"
    f.write_text(f'VERSION="{version}"\n')
    return f


@needs_rauc
def test_real_rauc_reads_a_good_bundle(signed):
    bundle = make_bundle(signed["dir"], "0.2.0", signed["key"], signed["cert"])
    info = RaucCli(keyring=str(signed["cert"])).info(bundle)
    assert info == BundleInfo("cccd-kiosk", "0.2.0")


@needs_rauc
def test_real_rauc_refusals_are_typed(signed):
    rauc = RaucCli(keyring=str(signed["cert"]))
    d = signed["dir"]
    foreign = make_bundle(d, "0.3.0", signed["other_key"], signed["other_cert"])
    good = make_bundle(d, "0.2.0", signed["key"], signed["cert"])
    tampered = d / "tampered.raucb"
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0xFF
    tampered.write_bytes(bytes(data))
    unsigned = d / "unsigned.raucb"
    subprocess.run(
        ["mksquashfs", str(d / "src-0.2.0"), str(unsigned), "-quiet", "-noappend"],
        check=True,
        capture_output=True,
    )
    junk = d / "junk.raucb"
    junk.write_bytes(b"not a bundle")
    expected = {
        foreign: "foreign_key",
        tampered: "tampered",
        unsigned: "unsigned",
        junk: "bad_bundle",
        d / "absent.raucb": "missing",
    }
    for path, code in expected.items():
        with pytest.raises(UpdateRefused) as exc:
            rauc.info(path)
        assert exc.value.code == code, (path.name, exc.value.message)


@needs_rauc
@pytest.mark.parametrize("kind", ["foreign", "tampered"])
def test_install_refuses_and_changes_nothing(signed, kind, tmp_path):
    d = signed["dir"]
    if kind == "foreign":
        bundle = make_bundle(d, "0.3.0", signed["other_key"], signed["other_cert"])
    else:
        bundle = make_bundle(d, "0.3.0", signed["key"], signed["cert"])
        data = bytearray(bundle.read_bytes())
        data[100] ^= 1
        bundle.write_bytes(bytes(data))
    real = RaucCli(keyring=str(signed["cert"]))
    fake = FakeRauc(verify=real.info)
    state = UpdateState(tmp_path / "upd")
    with pytest.raises(UpdateRefused):
        install_bundle(
            bundle,
            rauc=fake,
            state=state,
            service_url=NO_SERVICE,
            release_file=release_file(tmp_path, "0.2.0"),
        )
    assert fake.installed == [] and fake.primary == "A"
    assert state.pending is None and state.last["result"] == "refused"


def test_downgrade_refused_unless_allowed(tmp_path):
    bundle = tmp_path / "old.raucb"
    fake = FakeRauc(infos={bundle: BundleInfo("cccd-kiosk", "0.1.0")})
    state = UpdateState(tmp_path / "upd")
    rel = release_file(tmp_path, "0.2.0")
    with pytest.raises(UpdateRefused) as exc:
        install_bundle(bundle, rauc=fake, state=state, service_url=NO_SERVICE, release_file=rel)
    assert exc.value.code == "downgrade" and fake.installed == []
    out = install_bundle(
        bundle,
        rauc=fake,
        state=state,
        service_url=NO_SERVICE,
        release_file=rel,
        allow_downgrade=True,
    )
    assert out["direction"] == "downgrade" and out["slot"] == "B"
    assert fake.installed == [bundle] and fake.primary == "B"
    assert state.pending["version"] == "0.1.0" and state.pending["previous"] == "0.2.0"


def test_other_device_kind_refused(tmp_path):
    bundle = tmp_path / "x.raucb"
    fake = FakeRauc(infos={bundle: BundleInfo("some-router", "9.0.0")})
    with pytest.raises(UpdateRefused) as exc:
        install_bundle(
            bundle,
            rauc=fake,
            state=UpdateState(tmp_path / "u"),
            service_url=NO_SERVICE,
            release_file=release_file(tmp_path, "0.1.0"),
        )
    assert exc.value.code == "incompatible" and fake.installed == []


def test_upgrade_installs_into_the_other_slot(tmp_path):
    bundle = tmp_path / "new.raucb"
    fake = FakeRauc(booted="B", infos={bundle: BundleInfo("cccd-kiosk", "0.3.0")})
    state = UpdateState(tmp_path / "u")
    out = install_bundle(
        bundle,
        rauc=fake,
        state=state,
        service_url=NO_SERVICE,
        release_file=release_file(tmp_path, "0.2.0"),
    )
    assert out["slot"] == "A" and fake.versions["A"] == "0.3.0"
    assert state.last["result"] == "installed"


def test_classify_rauc_messages():
    assert classify("Invalid bundle format: Signature size is 0").code == "unsigned"
    assert (
        classify("signature verification failed: Verify error: self-signed certificate").code
        == "foreign_key"
    )
    assert classify("CMS routines:CMS_verify:content verify error").code == "tampered"
    assert classify("Failed mounting: something else") is None
    # the system lacks a tool RAUC runs: not the bundle's fault, not "no such bundle file"
    assert (
        classify('Failed to execute child process "unsquashfs" (No such file or directory)') is None
    )
    assert classify("No such file or directory: /media/usb/x.raucb").code == "missing"


def test_parse_rauc_status_json():
    raw = {
        "compatible": "cccd-kiosk",
        "variant": "",
        "booted": "A",
        "boot_primary": "rootfs.1",
        "slots": [
            {
                "rootfs.0": {
                    "class": "rootfs",
                    "device": "/dev/vda2",
                    "type": "ext4",
                    "bootname": "A",
                    "state": "booted",
                    "parent": None,
                    "mountpoint": "/",
                    "boot_status": "good",
                    "slot_status": {"bundle": {"compatible": None}},
                }
            },
            {
                "rootfs.1": {
                    "class": "rootfs",
                    "device": "/dev/vda3",
                    "type": "ext4",
                    "bootname": "B",
                    "state": "inactive",
                    "boot_status": "good",
                    "slot_status": {
                        "bundle": {"compatible": "cccd-kiosk", "version": "0.2.0"},
                        "installed": {"timestamp": "2026-12-07T12:00:00Z"},
                        "status": "ok",
                    },
                }
            },
            {"efi.0": {"class": "efi", "bootname": None, "state": "inactive"}},
        ],
    }
    st = parse_status(json.loads(json.dumps(raw)))
    assert st.booted == "A" and st.primary_bootname() == "B"
    assert [s.bootname for s in st.slots] == ["A", "B"]
    assert st.slot("B").version == "0.2.0" and st.slot("A").version == ""
    assert st.to_dict()["next_boot"] == "B"


def test_rauc_cli_missing_binary_is_a_typed_failure(tmp_path):
    with pytest.raises(UpdateFailed) as exc:
        RaucCli(binary=str(tmp_path / "no-rauc")).status()
    assert exc.value.code == "no_rauc"


def test_fake_rauc_is_like_the_boot_loader(tmp_path):
    bundle = Path("b.raucb")
    fake = FakeRauc(infos={bundle: BundleInfo("cccd-kiosk", "0.2.0")})
    fake.install(bundle)
    fake.boot()
    assert fake.booted == "B"
    fake.mark("bad")
    fake.boot()
    assert fake.booted == "A"
