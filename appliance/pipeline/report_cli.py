"""``appliance report checkins [--date YYYY-MM-DD] [--format json|csv]``: the gate's day.

JSON (default): counts per decision and per hour (local time) and the day's log rows::

    {"ok": true, "date": "2025-06-01", "total": 3, "admitted": 2,
     "by_decision": {"admit": 2, "expired": 0, "invalid": 1, "duplicate": 0, "unknown_layout": 0},
     "by_hour": [{"hour": 9, "total": 3, "admitted": 2, "admit": 2, "invalid": 1, ...}],
     "rows": [{"time": "2025-06-01T09:12:03.120+07:00", "decision": "admit", "admitted": true,
               "reason": null, "age_band": "25-34", "sex": "female", "birth_code": "035",
               "sealed": false, "clock_synced": true}, ...]}

CSV: the rows, one line each, with a header (open it in a spreadsheet). Rows hold no name, no
address and no ID number: there are none in the log.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_OK, emit
from appliance.pipeline.gate import DECISIONS, is_admitted

CSV_COLUMNS = (
    "time",
    "hour",
    "decision",
    "admitted",
    "reason",
    "age_band",
    "sex",
    "birth_code",
    "sealed",
    "clock_synced",
)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None


def summarize(rows: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """The report object for one day's rows (as ``Store.checkins`` returns them)."""
    out_rows = []
    by_hour: dict[int, Counter[str]] = {}
    by_decision: Counter[str] = Counter(dict.fromkeys(DECISIONS, 0))
    admitted = 0
    for row in rows:
        hour = datetime.fromisoformat(row["time"]).astimezone().hour
        ok = is_admitted(row["decision"], row["reason"])
        admitted += ok
        by_decision[row["decision"]] += 1
        counts = by_hour.setdefault(hour, Counter())
        counts[row["decision"]] += 1
        counts["admitted"] += ok
        out_rows.append(
            {
                "time": row["time"],
                "hour": hour,
                "decision": row["decision"],
                "admitted": ok,
                "reason": row["reason"],
                "age_band": row["age_band"],
                "sex": row["sex"],
                "birth_code": row["birth_code"],
                "sealed": row["sealed"],
                "clock_synced": row["clock_synced"],
            }
        )
    hours = []
    for hour in sorted(by_hour):
        counts = by_hour[hour]
        entry: dict[str, Any] = {
            "hour": hour,
            "total": sum(v for k, v in counts.items() if k != "admitted"),
            "admitted": counts["admitted"],
        }
        extra = sorted(k for k in counts if k not in DECISIONS and k != "admitted")
        entry.update({d: counts[d] for d in (*DECISIONS, *extra)})
        hours.append(entry)
    return {
        "ok": True,
        "date": day.isoformat(),
        "total": len(rows),
        "admitted": admitted,
        "by_decision": dict(by_decision),
        "by_hour": hours,
        "rows": out_rows,
    }


def write_csv(report: dict[str, Any], stream) -> None:
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow(row)


def cmd_report_checkins(args: argparse.Namespace) -> int:
    from appliance.config import load_config_for
    from appliance.store import Store

    cfg = load_config_for(args)
    if args.state_dir:
        cfg.service.state_dir = str(args.state_dir)
    day = args.date or date.today()
    with Store.open(cfg) as store:
        report = summarize(store.checkins(day), day)
    if args.format == "csv":
        write_csv(report, sys.stdout)
    else:
        emit(report, args)
    return EXIT_OK


def register(sub) -> None:
    from appliance.cli import add_json_flag
    from appliance.pipeline.qr_cli import group
    from appliance.service import add_config_args

    report_sub = group(sub, "report", "reports from the kiosk's log", "report_command")
    p = report_sub.add_parser("checkins", help="the gate's check-ins of one day: counts and rows")
    add_config_args(p)
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.add_argument("--date", type=_iso_date, help="the day, YYYY-MM-DD (default: today)")
    p.add_argument("--format", choices=("json", "csv"), default="json", help="default json")
    add_json_flag(p)
    p.set_defaults(func=cmd_report_checkins)
