"""The chip read's progress plan and labels, for the service adapters' ``_read_chip``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

Progress = Callable[[float], None]

# Share of the read each stage stands for: DG2 (the face image) dominates the radio time, but
# access control and the authentications take real time too (the bar smooths the rest).
READ_STAGES = {
    "bac": 0.12,
    "COM": 0.02,
    "SOD": 0.06,
    "DG14": 0.03,
    "chip_auth": 0.06,
    "DG1": 0.03,
    "DG13": 0.04,
    "DG15": 0.02,
    "DG2": 0.50,
    "active_auth": 0.06,
    "passive_auth": 0.06,
}


def _can(bac: Any) -> str | None:
    """The CAN: the last 6 ID digits, which are the last 6 of the document number (ID[3:])."""
    docno = bac[0] if isinstance(bac, tuple | list) else getattr(bac, "document_number", "")
    docno = str(docno or "")
    return docno[-6:] if len(docno) == 9 and docno.isdigit() else None


def access_label(card: Any) -> str:
    """``PACE (P-256, AES-128) + chip authentication`` / ``BAC (3DES)``, for staff."""
    acc = card.access
    pace = f"PACE ({acc.curve}, {acc.sm_cipher.upper()})"
    label = pace if acc.method == "pace" else "BAC (3DES)"
    if card.chip_auth.status in ("passed", "failed"):
        label += f" + chip authentication {card.chip_auth.status}"
    return label


def stage_progress(
    report: Progress, stage_end: Progress | None = None
) -> Callable[[str, int, int], None]:
    """``read_card``'s ``progress(stage, done, total)`` as the share of the read done
    (``report``) and where the stage now running ends (``stage_end``)."""
    starts: dict[str, float] = {}
    acc = 0.0
    for stage, share in READ_STAGES.items():
        starts[stage] = acc
        acc += share
    nexts = dict(itertools.pairwise(READ_STAGES))

    def progress(stage: str, done: int, total: int) -> None:
        if stage in starts and total:
            if stage_end is not None:  # a finished stage: the next one is running
                running = nexts.get(stage, stage) if done >= total else stage
                stage_end(min(1.0, starts[running] + READ_STAGES[running]))
            report(min(1.0, starts[stage] + READ_STAGES[stage] * done / total))

    return progress
