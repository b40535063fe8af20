"""``appliance hub ...``: the office hub's commands (docs/office-hub.md).

* ``hub serve [--reuse-port]``: the web server (several processes may share a port and a DB).
* ``hub migrate``: bring the database schema to the newest revision.
* ``hub register --name N --key device_ed25519.pub --site S --commune C --profile P``: prints the
  device token once; ``hub revoke NAME``; ``hub devices [--export DIR [--include-revoked]]``.
* ``hub officer add USER --role R`` (password from ``--password-file``, ``APPLIANCE_HUB_PASSWORD``
  or a prompt); ``hub officer list``.
* ``hub purge``: retention now (the server also runs it hourly).
* ``hub pull --url URL --user U --out DIR``: the records officer's workstation (see
  :mod:`appliance.hub.pull`).

Every command takes ``--config FILE`` (default ``/etc/appliance/hub.toml``) and ``--database
URL``; output follows the CLI contract (JSON when ``--json`` or piped).

The commands import the hub's modules when they run: those need the ``hub`` extra
(SQLAlchemy, Alembic), which a kiosk image does not carry.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_DEVICE, EXIT_OK, emit, fail
from appliance.errors import InvalidInput
from appliance.hub.config import HubSettings, load_settings
from appliance.hub.names import PROFILES, ROLES
from appliance.logs import setup_logging


def _settings(args: Any) -> HubSettings:
    settings = load_settings(getattr(args, "config", None))
    if getattr(args, "database", None):
        settings.database_url = args.database
    return settings


def _engine(args: Any):
    from appliance.hub.db import open_engine

    return open_engine(_settings(args).database_url)


def cmd_serve(args: Any) -> int:
    from appliance.hub.db import open_engine
    from appliance.hub.server import serve

    settings = _settings(args)
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    setup_logging(args.log_level)
    engine = open_engine(settings.database_url)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(engine, settings, stop, reuse_port=args.reuse_port)

    asyncio.run(main())
    return EXIT_OK


def cmd_migrate(args: Any) -> int:
    engine = _engine(args)
    emit({"ok": True, "engine": engine.dialect.name, "schema": "head"}, args)
    return EXIT_OK


def _read_file(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {what} {path}: {exc.strerror}", code="unreadable"
        ) from None


def cmd_register(args: Any) -> int:
    from appliance.hub.registry import register_device

    pem = _read_file(args.key, "device key")
    out = register_device(
        _engine(args),
        name=args.name,
        public_key_pem=pem,
        site=args.site,
        commune_code=args.commune,
        profile=args.profile,
    )
    if args.token_out:
        args.token_out.write_text(out["token"] + "\n")
        os.chmod(args.token_out, 0o600)
    out.pop("public_key_pem")
    emit(
        {
            "ok": True,
            **out,
            "note": "the token is shown once: put it in the kiosk's provision.toml as "
            "[office] upload_token",
        },
        args,
    )
    return EXIT_OK


def cmd_revoke(args: Any) -> int:
    from appliance.hub.registry import revoke_device

    out = revoke_device(_engine(args), args.name)
    out.pop("public_key_pem", None)
    emit({"ok": True, **out}, args)
    return EXIT_OK


def cmd_devices(args: Any) -> int:
    from appliance.hub.registry import export_register, list_devices

    engine = _engine(args)
    if args.export:
        emit(
            {
                "ok": True,
                **export_register(engine, args.export, include_revoked=args.include_revoked),
            },
            args,
        )
        return EXIT_OK
    rows = [{k: v for k, v in d.items() if k != "public_key_pem"} for d in list_devices(engine)]
    emit({"ok": True, "devices": rows}, args)
    return EXIT_OK


def _password(args: Any) -> str:
    if args.password_file:
        return _read_file(args.password_file, "password file").strip()
    if os.environ.get("APPLIANCE_HUB_PASSWORD"):
        return os.environ["APPLIANCE_HUB_PASSWORD"]
    try:
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise InvalidInput("the two passwords differ", code="usage")
    except EOFError:
        raise InvalidInput("no password given (--password-file)", code="usage") from None
    return first


def cmd_officer_add(args: Any) -> int:
    from appliance.hub.auth import add_officer

    out = add_officer(_engine(args), args.username, _password(args), args.role)
    emit({"ok": True, **out}, args)
    return EXIT_OK


def cmd_officer_list(args: Any) -> int:
    from appliance.hub.auth import list_officers

    emit({"ok": True, "officers": list_officers(_engine(args))}, args)
    return EXIT_OK


def cmd_purge(args: Any) -> int:
    from appliance.hub.records import purge

    settings = _settings(args)
    from appliance.hub.db import open_engine

    emit({"ok": True, **purge(open_engine(settings.database_url), settings)}, args)
    return EXIT_OK


def cmd_pull(args: Any) -> int:
    from appliance.hub.pull import pull

    if not args.password_file and not os.environ.get("APPLIANCE_HUB_PASSWORD"):
        return fail(args, "usage", "give --password-file or APPLIANCE_HUB_PASSWORD")
    out = pull(
        args.url,
        args.user,
        _password(args),
        args.out,
        since=args.since,
        ca_file=args.ca,
        devices_out=args.devices_out,
    )
    emit({"ok": True, **out}, args)
    return EXIT_OK


def cmd_demo(args: Any) -> int:
    import sys

    from appliance.hub.db import open_engine
    from appliance.hub.demo import prepare
    from appliance.hub.server import serve

    hub_dir = args.kiosk_state / "hub"
    settings = HubSettings(
        database_url=f"sqlite:///{(hub_dir / 'hub.db').resolve()}",
        host="127.0.0.1",
        port=args.port,
        secure_cookies=False,  # plain HTTP on loopback: the demo only
    )
    setup_logging("WARNING")
    engine = open_engine(settings.database_url)
    info = prepare(engine, args.kiosk_state, hub_dir)
    url = f"http://127.0.0.1:{args.port}"
    print(
        f"\n== Demo office hub: {url}/  (officers "
        f"{', '.join(f'{u} ({r})' for u, r in info['officers'].items())}; "
        f"password {info['password']})\n"
        f"   pull + unseal: appliance hub pull --url {url} --user demo-records "
        f"--password-file {info['password_file']} --out /tmp/pulled --devices-out /tmp/devices\n"
        f"                  appliance unseal /tmp/pulled/*.ccsb --key "
        f"{args.kiosk_state}/demo-office-key/office_x25519.pem --devices /tmp/devices\n",
        file=sys.stderr,
        flush=True,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(engine, settings, stop)

    asyncio.run(main())
    return EXIT_OK


HUB_EXTRA = ("sqlalchemy", "alembic", "psycopg", "jinja2")


def _needs_extra(fn: Any) -> Any:
    """A clear error instead of a traceback where the ``hub`` extra is not installed."""

    def run(args: Any) -> int:
        try:
            return fn(args)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in HUB_EXTRA:
                raise
            return fail(
                args,
                "hub_extra_missing",
                f"the office hub needs the hub extra (pip install 'cccd-appliance[hub]'): {exc}",
                EXIT_DEVICE,
            )

    return run


def _common(p) -> None:
    from appliance.cli import add_json_flag

    p.add_argument("--config", type=Path, help="hub config (default /etc/appliance/hub.toml)")
    p.add_argument("--database", help="database URL (overrides the config)")
    add_json_flag(p)


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag

    hub = sub.add_parser("hub", help="the office hub: receive bundles, fleet, campaign, pull")
    hs = hub.add_subparsers(dest="hub_command", required=True, parser_class=_Parser)

    p = hs.add_parser("serve", help="run the hub's web server")
    _common(p)
    p.add_argument("--host", help="listen address (overrides the config)")
    p.add_argument("--port", type=int, help="listen port (overrides the config)")
    p.add_argument("--reuse-port", action="store_true", help="share the port with other processes")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_needs_extra(cmd_serve))

    p = hs.add_parser("migrate", help="create or upgrade the database schema")
    _common(p)
    p.set_defaults(func=_needs_extra(cmd_migrate))

    p = hs.add_parser("register", help="register a kiosk; prints its upload token once")
    _common(p)
    p.add_argument("--name", required=True, help="kiosk name, e.g. xa-tan-lap-01")
    p.add_argument("--key", required=True, type=Path, help="the kiosk's device_ed25519.pub")
    p.add_argument("--site", required=True, help="where it stands (free text)")
    p.add_argument("--commune", required=True, help="5-digit commune code")
    p.add_argument("--profile", required=True, choices=PROFILES)
    p.add_argument("--token-out", type=Path, help="also write the token to this file (0600)")
    p.set_defaults(func=_needs_extra(cmd_register))

    p = hs.add_parser("revoke", help="revoke a kiosk: its uploads are refused from now on")
    _common(p)
    p.add_argument("name")
    p.set_defaults(func=_needs_extra(cmd_revoke))

    p = hs.add_parser("devices", help="list the register, or export it for `appliance unseal`")
    _common(p)
    p.add_argument("--export", type=Path, help="write <name>.pub files here (unseal --devices)")
    p.add_argument("--include-revoked", action="store_true", help="export revoked kiosks too")
    p.set_defaults(func=_needs_extra(cmd_devices))

    off = hs.add_parser("officer", help="officer accounts")
    osub = off.add_subparsers(dest="officer_command", required=True, parser_class=_Parser)
    p = osub.add_parser("add", help="add an officer account")
    _common(p)
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--password-file", type=Path, help="file holding the password")
    p.set_defaults(func=_needs_extra(cmd_officer_add))
    p = osub.add_parser("list", help="list officer accounts")
    _common(p)
    p.set_defaults(func=_needs_extra(cmd_officer_list))

    p = hs.add_parser("purge", help="delete ciphertext and heartbeats past retention")
    _common(p)
    p.set_defaults(func=_needs_extra(cmd_purge))

    p = hs.add_parser("demo", help="the local demo hub beside the sim kiosk (make demo)")
    p.add_argument("--kiosk-state", type=Path, default=Path(".state"), help="sim kiosk state")
    p.add_argument("--port", type=int, default=8090)
    p.set_defaults(func=_needs_extra(cmd_demo))

    p = hs.add_parser("pull", help="records officer: download new bundles from the hub")
    p.add_argument("--url", required=True, help="the hub, e.g. https://hub.office.example")
    p.add_argument("--user", required=True, help="records officer's username")
    p.add_argument("--password-file", type=Path, help="file holding the password")
    p.add_argument("--out", required=True, type=Path, help="folder (or USB stick) for .ccsb files")
    p.add_argument("--since", help="only bundles the hub received after this ISO 8601 time")
    p.add_argument("--ca", type=Path, help="CA certificate of the hub (default: system trust)")
    p.add_argument("--devices-out", type=Path, help="also write the register for unseal --devices")
    add_json_flag(p)
    p.set_defaults(func=cmd_pull)
