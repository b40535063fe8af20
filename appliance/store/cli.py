"""Commands of the data lifecycle: ``purge``, ``export``, ``unseal``, ``keys``, ``outbox``.

* ``appliance purge [--dry-run] [--now ISO] [--force]``: retention (the systemd timer runs it).
* ``appliance export --to DIR [--all] [--mark-delivered]``: sealed bundles to a USB stick.
* ``appliance unseal BUNDLE... --key OFFICE_KEY (--devices DIR | --allow-unknown-devices)
  [--out DIR]``: the office side; one bad bundle is reported and the rest are still processed.
* ``appliance keys office --out DIR``: make an office key pair;
  ``appliance keys device``: this kiosk's signing key id and public key (for provisioning).
* ``appliance outbox [--upload]``: queue status; ``--upload`` runs one upload pass now.

Commands that touch the kiosk's data take ``--profile/--config/--sim`` and ``--state-dir``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_INVALID, EXIT_OK, emit, fail, fail_exc
from appliance.config import Config, load_config_for
from appliance.errors import ApplianceError, InvalidInput


def _config(args: Any) -> Config:
    cfg = load_config_for(args)
    if getattr(args, "state_dir", None):
        cfg.service.state_dir = str(args.state_dir)
    return cfg


def _open(args: Any):
    from appliance.store.store import Store

    return Store.open(_config(args))


def cmd_purge(args: Any) -> int:
    from appliance.store.retention import purge

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            return fail(args, "usage", f"--now must be an ISO 8601 time, not {args.now!r}")
    with _open(args) as store:
        result = purge(store, now, force=args.force, dry_run=args.dry_run)
    emit({"ok": True, **result}, args)
    return EXIT_OK


def cmd_export(args: Any) -> int:
    from appliance.store.export import export_bundles

    with _open(args) as store:
        result = export_bundles(
            store, args.to, include_acked=args.all, mark_delivered=args.mark_delivered
        )
    emit({"ok": True, **result}, args)
    return EXIT_OK


def cmd_unseal(args: Any) -> int:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from appliance.store.bundle import unseal
    from appliance.store.keys import load_device_registry, load_private_key

    if not args.devices and not args.allow_unknown_devices:
        return fail(
            args,
            "usage",
            "give --devices DIR (the registered kiosks' public keys); without a register any "
            "key can sign, so only --allow-unknown-devices runs without one",
        )
    try:
        office = load_private_key(args.key, X25519PrivateKey)
        devices = load_device_registry(args.devices) if args.devices else None
    except ApplianceError as exc:
        return fail_exc(args, exc)
    worst = EXIT_OK
    for name in args.bundles:
        path = Path(name)
        try:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read {name}: {exc.strerror}", code="unreadable"
                ) from None
            result = unseal(data, office, devices)
            out: dict[str, Any] = {"file": name, "ok": True, **result.summary()}
            if args.out:
                out["written_to"] = str(_write_unsealed(Path(args.out), result))
            else:
                out["record"] = result.record
        except ApplianceError as exc:
            worst = EXIT_INVALID
            fail(args, exc.code, f"{name}: {exc.message}", EXIT_INVALID, file=name)
            continue
        if devices is None:
            out["warning"] = (
                f"signer {result.signer_key_id} not checked against registered devices "
                "(--allow-unknown-devices)"
            )
        emit(out, args)
    return worst


def _write_unsealed(out: Path, result: Any) -> Path:
    """record.json and the parts under ``out/<bundle_id>/``; names were checked by ``unseal``."""
    from appliance.store.bundle import check_names

    check_names(result.header["bundle_id"], list(result.parts))  # again: the write is here
    folder = out / result.header["bundle_id"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(
        json.dumps(result.record, indent=2, ensure_ascii=False) + "\n"
    )
    for part, blob in result.parts.items():
        target = folder / part
        if target.resolve().parent != folder.resolve():  # a symlinked folder planted earlier
            raise InvalidInput(f"refusing to write {target} outside {folder}", code="bad_path")
        target.write_bytes(blob)
    return folder


def cmd_keys_office(args: Any) -> int:
    from appliance.store.keys import generate_office_keypair

    priv, pub, kid = generate_office_keypair(args.out, overwrite=args.force)
    emit(
        {
            "ok": True,
            "office_key_id": kid,
            "private_key": str(priv),
            "public_key": str(pub),
            "note": "keep the private key at the office only; copy the public key to each kiosk "
            "as [store] office_public_key",
        },
        args,
    )
    return EXIT_OK


def cmd_keys_device(args: Any) -> int:
    from appliance.store.keys import DEVICE_PUBLIC, KEYS_DIR, ensure_device_key

    cfg = _config(args)
    key = ensure_device_key(cfg.state_dir)
    emit(
        {
            "ok": True,
            "device_key_id": key.key_id,
            "public_key_file": str(cfg.state_dir / KEYS_DIR / DEVICE_PUBLIC),
            "public_key_pem": key.public_pem(),
        },
        args,
    )
    return EXIT_OK


def cmd_outbox(args: Any) -> int:
    from appliance.store.outbox import upload_once
    from appliance.store.store import Store

    cfg = _config(args)
    with Store.open(cfg) as store:
        out: dict[str, Any] = {"ok": True, **store.outbox_status()}
        if args.upload:
            out["upload"] = upload_once(store, cfg)
            out.update(store.outbox_status())
    emit(out, args)
    return EXIT_OK


def _data_args(p) -> None:
    from appliance.service import add_config_args

    add_config_args(p)
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag

    p = sub.add_parser("purge", help="delete records past their retention period")
    _data_args(p)
    p.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    p.add_argument("--now", help="ISO 8601 time to purge as of (default: now)")
    p.add_argument("--force", action="store_true", help="purge even if the clock is not synced")
    add_json_flag(p)
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("export", help="copy sealed bundles to a folder (USB stick)")
    _data_args(p)
    p.add_argument("--to", required=True, type=Path, help="destination folder")
    p.add_argument("--all", action="store_true", help="also bundles already acknowledged")
    p.add_argument(
        "--mark-delivered",
        action="store_true",
        help="count the hand-over as the office's acknowledgement",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("unseal", help="office side: verify and decrypt sealed bundles")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help=".ccsb file(s)")
    p.add_argument("--key", required=True, type=Path, help="office private key (PEM)")
    p.add_argument("--devices", type=Path, help="folder of registered device public keys")
    p.add_argument(
        "--allow-unknown-devices",
        action="store_true",
        help="accept any signer when no --devices register is given (not for real data)",
    )
    p.add_argument("--out", type=Path, help="write record.json and images under DIR/<bundle_id>/")
    add_json_flag(p)
    p.set_defaults(func=cmd_unseal)

    keys = sub.add_parser("keys", help="office key pair; this device's signing key")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    p = keys_sub.add_parser("office", help="make an office X25519 key pair")
    p.add_argument("--out", required=True, type=Path, help="folder for the two key files")
    p.add_argument("--force", action="store_true", help="replace an existing key pair")
    add_json_flag(p)
    p.set_defaults(func=cmd_keys_office)
    p = keys_sub.add_parser("device", help="show this device's signing key (made if missing)")
    _data_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_keys_device)

    p = sub.add_parser("outbox", help="sealed bundles waiting for upload")
    _data_args(p)
    p.add_argument("--upload", action="store_true", help="try to upload the due bundles now")
    add_json_flag(p)
    p.set_defaults(func=cmd_outbox)
