"""``appliance update`` (kiosk) and ``appliance update-manifest`` (office): docs/updates.md.

appliance update --from /media/usb/FILE.raucb [--allow-downgrade] [--no-reboot]
appliance update --status          slots, versions, the pending install, the last result
appliance update --poll            ask the hub (timer), install when in the rollout and idle
appliance update --confirm         at boot: keep a trial slot only when healthy
appliance update-manifest BUNDLE --key KEY.pem --keyring CERT.pem --url URL [...]
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

from appliance.cli_output import emit, fail_exc
from appliance.config import load_config_for
from appliance.logs import setup_logging
from appliance.update.errors import UpdateFailed, UpdateRefused
from appliance.update.installer import install_bundle, poll, running_version
from appliance.update.manifest import Manifest
from appliance.update.publish import file_digest, load_private_key, sign_manifest
from appliance.update.rauc import Rauc, RaucCli
from appliance.update.state import UpdateState
from appliance.update.trial import ServiceProbe, confirm


def make_rauc(cfg: Any) -> Rauc:
    """The RAUC driver (tests replace this function)."""
    return RaucCli(keyring=cfg.update.keyring)


TRYBOOT_ARMED = Path("/boot/firmware/tryboot-armed")  # the Pi back end armed a trial boot


def reboot() -> None:
    """Reboot; on a Raspberry Pi with a trial armed, as the firmware's one-time tryboot."""
    cmd = ["systemctl", "reboot"]
    if TRYBOOT_ARMED.exists():
        cmd.append("0 tryboot")
    subprocess.run(cmd, check=False, timeout=60)


def _service_url(cfg: Any) -> str:
    return f"http://127.0.0.1:{cfg.service.port}"


def cmd_update(args) -> int:
    cfg = load_config_for(args)
    setup_logging(cfg.service.log_level)
    rauc = make_rauc(cfg)
    state = UpdateState(cfg.update_dir)
    if args.status:
        data = state.read()
        try:
            status = rauc.status()
        except UpdateFailed as exc:  # still show what the updater remembers
            return fail_exc(args, exc, last=data.get("last"), pending=data.get("pending"))
        emit(
            {
                "ok": True,
                "running_version": running_version(status),
                **status.to_dict(),
                "pending": data.get("pending"),
                "last": data.get("last"),
                "failed_versions": data.get("failed_versions", []),
            },
            args,
        )
        return 0
    if args.confirm:
        result = confirm(
            rauc,
            state,
            ServiceProbe(_service_url(cfg), cfg.state_dir),
            within_s=cfg.update.confirm_within_s,
            reboot=(lambda: None) if args.no_reboot else reboot,
        )
        # Exit 0 whenever a decision was made (kept_unhealthy included: it is reported, and a
        # failing unit must not look like a reason to reboot).
        emit({"ok": result["action"] != "marked_bad", **result}, args)
        return 0
    if args.source:
        bundle = Path(args.source)
        if not bundle.is_file():
            raise UpdateRefused(f"no such bundle file: {bundle}", code="missing")
        result = install_bundle(
            bundle,
            rauc=rauc,
            state=state,
            service_url=_service_url(cfg),
            allow_downgrade=args.allow_downgrade,
        )
    else:
        result = poll(cfg, rauc=rauc, state=state, service_url=_service_url(cfg))
    emit(result, args)
    if result.get("action") == "installed" and not args.no_reboot:
        reboot()
    return 0


def cmd_manifest(args) -> int:
    info = RaucCli(keyring=str(args.keyring)).info(Path(args.bundle))
    digest, size = file_digest(args.bundle)
    sites = {}
    for item in args.site or []:
        name, _, pct = item.partition("=")
        if not name or not pct.isdigit():
            raise UpdateRefused(f"--site wants NAME=PERCENT, got {item!r}", code="usage")
        sites[name] = int(pct)
    manifest = Manifest(
        version=info.version,
        compatible=info.compatible,
        channel=args.channel,
        bundle_url=args.url,
        sha256=digest,
        size=size,
        default_pct=args.default_pct,
        sites=sites,
        stopped=args.stopped,
        notes=args.notes or "",
    )
    key = load_private_key(args.key)
    written = []
    if args.stages:  # the hub's stage set: one manifest per share, and a stopped one
        if args.site or args.stopped or args.default_pct:
            raise UpdateRefused(
                "--stages makes one manifest per share: no --site, --stopped or --default-pct",
                code="usage",
            )
        out_dir = Path(args.out_dir or ".")
        out_dir.mkdir(parents=True, exist_ok=True)
        for pct in [*_shares(args.stages), None]:
            stage = dataclasses.replace(manifest, default_pct=pct or 0, stopped=pct is None)
            path = out_dir / f"cccd-kiosk-{info.version}.{pct if pct else 'stopped'}.json"
            path.write_bytes(sign_manifest(stage, key))
            written.append(str(path))
    else:
        doc = sign_manifest(manifest, key)
        if args.out:
            Path(args.out).write_bytes(doc)
            written.append(str(args.out))
    emit(
        {
            "ok": True,
            "version": info.version,
            "sha256": digest,
            "size": size,
            "out": written[0] if len(written) == 1 else None,
            "written": written,
        },
        args,
    )
    return 0


def _shares(text: str) -> list[int]:
    """``--stages 10,50,100``: increasing whole percents, 1 to 100."""
    try:
        shares = [int(x) for x in text.split(",")]
    except ValueError:
        shares = []
    if not shares or shares != sorted(set(shares)) or not all(0 < x <= 100 for x in shares):
        raise UpdateRefused(
            f"--stages wants increasing percents 1-100 like 10,100, got {text!r}", code="usage"
        )
    return shares


def _config_args(p) -> None:
    p.add_argument("--profile", help="sim, commune-kiosk, tourist-gate or field-kit")
    p.add_argument("--config", type=Path, help="site config file")


def register(sub) -> None:
    from appliance.cli import add_json_flag

    p = sub.add_parser("update", help="signed A/B system updates (RAUC)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--from", dest="source", metavar="FILE.raucb", help="install this bundle")
    what.add_argument("--status", action="store_true", help="slots, versions, last result")
    what.add_argument("--poll", action="store_true", help="ask the hub for a release")
    what.add_argument("--confirm", action="store_true", help="at boot: keep or undo a trial slot")
    p.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="technician: install a version older than the running one",
    )
    p.add_argument("--no-reboot", action="store_true", help="do not reboot after installing")
    _config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_update)

    m = sub.add_parser("update-manifest", help="office: sign the hub's manifest for a bundle")
    m.add_argument("bundle", help="the signed .raucb (checked against --keyring first)")
    m.add_argument("--key", required=True, help="the office's update-signing private key (PEM)")
    m.add_argument("--keyring", required=True, help="its certificate (the kiosks' keyring)")
    m.add_argument("--url", required=True, help="where kiosks download the bundle")
    m.add_argument("--channel", default="stable")
    m.add_argument("--default-pct", type=int, default=0, help="share of every site (0-100)")
    m.add_argument("--site", action="append", metavar="SITE=PCT", help="a site's own share")
    m.add_argument("--stopped", action="store_true", help="a halted rollout")
    m.add_argument("--notes", help="release notes for the hub's pages")
    m.add_argument("--out", help="write the manifest here")
    m.add_argument(
        "--stages",
        metavar="PCT,PCT",
        help="the hub's rollout stages, e.g. 10,100: one manifest per share and a stopped one",
    )
    m.add_argument("--out-dir", help="with --stages: the folder to write them to (the hub's)")
    add_json_flag(m)
    m.set_defaults(func=cmd_manifest)
