"""The units in systemd/: they verify, meet the hardening target and do what the issue asks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parent.parent / "systemd"
UNITS = [
    "appliance.service",
    "kiosk.service",
    "appliance-firstboot.service",
    "appliance-purge.service",
    "appliance-purge.timer",
    "appliance-update-confirm.service",
    "appliance-update.service",
    "appliance-update.timer",
]
# What the units run, as stand-ins in a temporary root for `systemd-analyze verify`.
BINARIES = [
    "opt/appliance/venv/bin/appliance",
    "usr/bin/cage",
    "usr/bin/chromium",
    "bin/systemctl",
    "bin/sh",
]
ENABLED = [
    ("sysinit.target", "systemd-timesyncd.service"),
    ("multi-user.target", "appliance.service"),
    ("multi-user.target", "appliance-firstboot.service"),
    ("multi-user.target", "kiosk.service"),
    ("timers.target", "appliance-purge.timer"),
    ("multi-user.target", "appliance-update-confirm.service"),
    ("timers.target", "appliance-update.timer"),
]
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def parse_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (systemd keys repeat), continuation lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for line in (UNITS_DIR / name).read_text().splitlines():
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("["):
            current = sections.setdefault(stripped.strip("[]"), {})
            continue
        key, _, value = stripped.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key} set {len(values)} times"
    return values[0]


def words(unit: dict, section: str, key: str) -> set[str]:
    return {w for v in unit[section].get(key, []) for w in v.split()}


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory) -> Path:
    """A root with the host's stock units, ours, and stand-ins for the binaries they name."""
    root = tmp_path_factory.mktemp("root")
    host_units = Path("/usr/lib/systemd/system")
    if host_units.is_dir():
        shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(UNITS_DIR / name, etc / name)
    for rel in BINARIES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    # Enabled as in the image, so ordering cycles with early units show up in the transaction.
    for target, unit in ENABLED:
        wants = etc / f"{target}.wants"
        wants.mkdir(exist_ok=True)
        ours = (etc / unit).exists()
        (wants / unit).symlink_to(
            f"/etc/systemd/system/{unit}" if ours else f"/usr/lib/systemd/system/{unit}"
        )
    return root


def analyze_verify(root: Path, *units: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ANALYZE, "verify", f"--root={root}", "--man=no", *units],
        cwd=root / "etc/systemd/system",
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_analyze
def test_units_verify_cleanly(verify_root):
    if not (verify_root / "usr/lib/systemd/system/sysinit.target").exists():
        pytest.skip("no stock systemd units on this machine")
    proc = analyze_verify(verify_root, *UNITS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr  # parse warnings count as failures here


@needs_analyze
def test_verify_notices_an_ordering_cycle(verify_root, tmp_path):
    # Before=systemd-timesyncd (which runs before sysinit.target) in a unit ordered after
    # sysinit.target is a cycle systemd breaks by dropping timesyncd: the check must see it.
    if not (verify_root / "usr/lib/systemd/system/systemd-timesyncd.service").exists():
        pytest.skip("no systemd-timesyncd unit on this machine")
    root = tmp_path / "root"
    shutil.copytree(verify_root, root, symlinks=True)
    unit = root / "etc/systemd/system/appliance-firstboot.service"
    unit.write_text(unit.read_text().replace("\nBefore=", "\nBefore=systemd-timesyncd.service "))
    proc = analyze_verify(root, "appliance-firstboot.service")
    assert "ordering cycle" in proc.stderr


@needs_analyze
def test_verify_notices_a_missing_binary(verify_root, tmp_path):
    # The check above is only worth something if verify looks at the binaries.
    root = tmp_path / "root"
    shutil.copytree(verify_root, root, symlinks=True)
    (root / "usr/bin/cage").unlink()
    proc = analyze_verify(root, "kiosk.service")
    assert proc.returncode != 0
    assert "/usr/bin/cage" in proc.stderr


def exposure(unit: str) -> float:
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(UNITS_DIR / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


@needs_analyze
@pytest.mark.parametrize("unit", ["appliance.service", "appliance-purge.service"])
def test_service_exposure_at_most_3(unit):
    assert exposure(unit) <= 3.0


@needs_analyze
@pytest.mark.parametrize(
    "unit, limit", [("kiosk.service", 5.0), ("appliance-firstboot.service", 4.0)]
)
def test_browser_and_firstboot_exposure(unit, limit):
    assert exposure(unit) <= limit


def test_appliance_service_contract():
    u = parse_unit("appliance.service")
    s = u["Service"]
    assert one(u, "Service", "Type") == "notify"
    assert one(u, "Service", "Restart") == "on-failure"
    watchdog = one(u, "Service", "WatchdogSec")
    assert watchdog.isdigit() and 10 <= int(watchdog) <= 120
    assert one(u, "Service", "ExecStart").split()[:2] == [
        "/opt/appliance/venv/bin/appliance",
        "run",
    ]
    assert one(u, "Service", "User") == "appliance"
    assert {"video", "dialout", "gpio", "plugdev"} <= words(u, "Service", "SupplementaryGroups")
    assert one(u, "Service", "StateDirectory") == "appliance"
    assert one(u, "Service", "ConfigurationDirectory") == "appliance"
    assert one(u, "Service", "NoNewPrivileges") == "yes"
    assert one(u, "Service", "ProtectSystem") == "strict"
    assert one(u, "Service", "PrivateTmp") == "yes"
    assert one(u, "Service", "DevicePolicy") == "closed"
    allowed = {v.split()[0] for v in s["DeviceAllow"]}
    assert {"char-video4linux", "char-ttyAMA", "char-ttyS", "char-gpiochip"} <= allowed
    families = words(u, "Service", "RestrictAddressFamilies")
    assert "AF_PACKET" not in families and {"AF_UNIX", "AF_INET"} <= families
    # The state dir the unit hands the service is the one StateDirectory= creates.
    assert "APPLIANCE_STATE_DIR=/var/lib/appliance" in words(u, "Service", "Environment")
    assert "appliance-firstboot.service" in words(u, "Unit", "After")
    assert "network-online.target" not in words(u, "Unit", "Wants")  # offline kits start too


def test_kiosk_service_contract():
    u = parse_unit("kiosk.service")
    exec_start = one(u, "Service", "ExecStart")
    argv = exec_start.split()
    assert argv[0] == "/usr/bin/cage" and "/usr/bin/chromium" in argv
    for flag in (
        "--kiosk",
        "--noerrdialogs",
        "--disable-infobars",
        "--no-first-run",
        "--disable-features=Translate,TranslateUI",
        "--disable-background-networking",
    ):
        assert flag in argv, flag
    assert argv[-1] == "${KIOSK_URL}"  # the tokened loopback URL the service writes
    assert "/run/appliance/kiosk-url" in u["Service"]["EnvironmentFile"]
    assert one(u, "Service", "User") == "kiosk"
    assert one(u, "Service", "TTYPath") == "/dev/tty1"
    assert one(u, "Service", "Restart") == "always"
    assert "appliance.service" in words(u, "Unit", "After")
    assert "getty@tty1.service" in words(u, "Unit", "Conflicts")


def test_firstboot_runs_once_unless_a_new_file_arrives():
    u = parse_unit("appliance-firstboot.service")
    assert one(u, "Service", "Type") == "oneshot"
    conditions = set(u["Unit"]["ConditionPathExists"])
    # Triggering conditions (|): a new provision.toml, or not provisioned yet.
    assert conditions == {"|/boot/firmware/provision.toml", "|!/etc/appliance/provisioned.json"}
    argv = one(u, "Service", "ExecStart").split()
    assert argv[:2] == ["/opt/appliance/venv/bin/appliance", "provision"]
    assert argv[argv.index("--from") + 1] == "/boot/firmware/provision.toml"
    assert "appliance.service" in words(u, "Unit", "Before")
    # A failed provisioning must not keep the service from starting.
    assert "appliance-firstboot.service" not in words(
        parse_unit("appliance.service"), "Unit", "Requires"
    )


def test_purge_timer_is_daily_and_runs_purge():
    timer = parse_unit("appliance-purge.timer")
    assert one(timer, "Timer", "OnCalendar") in ("daily", "*-*-* 03:30:00")
    assert one(timer, "Timer", "Persistent") == "yes"
    assert one(timer, "Install", "WantedBy") == "timers.target"
    service = parse_unit("appliance-purge.service")
    assert one(service, "Service", "ExecStart").split()[1] == "purge"
    assert one(service, "Service", "User") == "appliance"


def test_sysusers_creates_the_users_in_their_groups(tmp_path):
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers not installed")
    etc = tmp_path / "etc"
    etc.mkdir()
    base = ["root:x:0:", "video:x:44:", "dialout:x:20:", "plugdev:x:46:", "input:x:101:"]
    (etc / "group").write_text("\n".join([*base, "render:x:102:"]) + "\n")
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("".join(f"{g.split(':')[0]}:!::\n" for g in base))
    conf = tmp_path / "usr/lib/sysusers.d/appliance.conf"
    conf.parent.mkdir(parents=True)
    shutil.copy(UNITS_DIR / "appliance.sysusers.conf", conf)
    proc = subprocess.run(
        [sysusers, f"--root={tmp_path}"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    users = {line.split(":")[0] for line in (etc / "passwd").read_text().splitlines()}
    assert {"appliance", "kiosk"} <= users
    members = {
        line.split(":")[0]: set(line.split(":")[3].split(","))
        for line in (etc / "group").read_text().splitlines()
    }
    for group in ("video", "dialout", "gpio", "plugdev", "input"):
        assert "appliance" in members[group], group
    assert "kiosk" in members["render"] and "kiosk" not in members["dialout"]


def test_update_confirm_runs_after_the_service_at_every_boot():
    u = parse_unit("appliance-update-confirm.service")
    assert one(u, "Service", "ExecStart").endswith("appliance update --confirm --json")
    assert one(u, "Service", "Type") == "oneshot"
    assert "appliance.service" in words(u, "Unit", "After")
    # Wants, not Requires: a service that cannot start must be judged, not skip the check.
    assert "appliance.service" in words(u, "Unit", "Wants")
    assert "User" not in u["Service"]  # root, for RAUC's D-Bus interface
    assert words(u, "Install", "WantedBy") == {"multi-user.target"}
    # The unit outlasts the longest trial window plus the health probes.
    assert int(one(u, "Service", "TimeoutStartSec")) > 300


def test_update_poll_timer_is_hourly_and_spread():
    t = parse_unit("appliance-update.timer")
    assert one(t, "Timer", "OnUnitActiveSec") == "1h"
    assert one(t, "Timer", "RandomizedDelaySec")
    s = parse_unit("appliance-update.service")
    assert one(s, "Service", "ExecStart").endswith("appliance update --poll --json")
