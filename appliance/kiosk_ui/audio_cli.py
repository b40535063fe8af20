"""``appliance ui audio-pack check|scaffold LANG`` and ``appliance ui languages``.

``check`` lists the clips a language's audio pack lacks (missing) and those recorded for a text
that has changed since (stale); exit 1 when any is missing or stale. ``scaffold`` writes the
recording script for them (docs/audio-pack.md). ``languages`` reports, per language present, how
many texts are its own and how many fall back to Vietnamese.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_INVALID, emit, fail


def _languages(args: Any):
    from appliance.kiosk_ui.languages import Languages
    from appliance.service import load_config_for

    if args.packs:
        return Languages(Path(args.packs)), None
    cfg = load_config_for(args)
    return Languages(cfg.ui.packs_dir or None), cfg


def cmd_check(args: Any) -> int:
    from appliance.kiosk_ui.audio_pack import PackFormatError, check

    langs, cfg = _languages(args)
    if args.lang not in langs:
        return fail(args, "unknown_language", f"no language {args.lang!r} in {langs.root}")
    purposes = list(cfg.ui.consent_purposes) if cfg else None
    try:
        report = check(langs, args.lang, purposes).to_dict()
    except PackFormatError as exc:
        return fail(args, "bad_manifest", str(exc))
    report["folder"] = str(langs.root / args.lang / "audio")
    emit(report, args)
    return 1 if report["missing"] or report["stale"] else 0


def cmd_scaffold(args: Any) -> int:
    from appliance.kiosk_ui.audio_pack import PackFormatError, check, scaffold

    langs, cfg = _languages(args)
    if args.lang not in langs:
        return fail(args, "unknown_language", f"no language {args.lang!r} in {langs.root}")
    purposes = list(cfg.ui.consent_purposes) if cfg else None
    try:
        script = scaffold(langs, args.lang, purposes)
        report = check(langs, args.lang, purposes).to_dict()
    except (PackFormatError, OSError) as exc:
        return fail(args, "scaffold_failed", str(exc), EXIT_INVALID)
    emit({"script": str(script), "to_record": len(report["missing"]), **report}, args)
    return 0


def cmd_languages(args: Any) -> int:
    langs, _ = _languages(args)
    table = langs.completeness()
    rows = {
        code: {k: v for k, v in row.items() if k != "missing"} | {"missing": len(row["missing"])}
        for code, row in table.items()
    }
    emit({"packs": str(langs.root), "languages": rows, "ignored": langs.errors}, args)
    return 0


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag
    from appliance.service import add_config_args

    ui = sub.add_parser("ui", help="kiosk screens: languages and audio packs")
    usub = ui.add_subparsers(dest="ui_command", required=True, parser_class=_Parser)

    pack = usub.add_parser("audio-pack", help="recorded voice clips of a language")
    psub = pack.add_subparsers(dest="pack_command", required=True, parser_class=_Parser)
    for name, func, text in (
        ("check", cmd_check, "list missing and stale clips (exit 1 if any)"),
        ("scaffold", cmd_scaffold, "write the recording script for missing and stale clips"),
    ):
        p = psub.add_parser(name, help=text)
        p.add_argument("lang", metavar="LANG")
        p.add_argument("--packs", help="packs folder (default: [ui] packs_dir)")
        add_config_args(p)
        add_json_flag(p)
        p.set_defaults(func=func)

    p = usub.add_parser("languages", help="languages present and how complete each one is")
    p.add_argument("--packs", help="packs folder (default: [ui] packs_dir)")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_languages)
