"""What one chip read gives: the data, the authentication results, how it was read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.icao import lds
from appliance.icao.access import AccessResult
from appliance.icao.active import ActiveAuthResult
from appliance.icao.chipauth import FAILED, NOT_SUPPORTED, PASSED, ChipAuthResult
from appliance.icao.passive import PassiveAuthResult


@dataclass
class ReadStats:
    apdus: int = 0
    bytes: int = 0
    block_size: int = 0
    extended_length: bool = False
    sfi: bool = True
    step_downs: int = 0
    ms: float = 0.0
    io_ms: float = 0.0
    by_ins: dict[str, int] = field(default_factory=dict)
    access: str = "bac"
    curve: str | None = None
    sm_cipher: str = "3des"

    @property
    def overhead_ms(self) -> float:
        return self.ms - self.io_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "apdus": self.apdus,
            "bytes": self.bytes,
            "block_size": self.block_size,
            "extended_length": self.extended_length,
            "sfi": self.sfi,
            "step_downs": self.step_downs,
            "ms": round(self.ms, 1),
            "io_ms": round(self.io_ms, 1),
            "by_ins": self.by_ins,
            "access": self.access,
            "curve": self.curve,
            "sm_cipher": self.sm_cipher,
        }


@dataclass
class CardRead:
    """What was read from a chip and what its authentication checks said."""

    dg1: lds.Dg1 | None
    dg13: dict[str, Any] | None
    face: lds.FaceImage | None
    passive_auth: PassiveAuthResult
    active_auth: ActiveAuthResult
    files: dict[str, bytes] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    security_infos: lds.SecurityInfoSummary | None = None
    access: AccessResult = field(default_factory=AccessResult)
    chip_auth: ChipAuthResult = field(
        default_factory=lambda: ChipAuthResult(NOT_SUPPORTED, message="not attempted")
    )
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def pace_offered(self) -> bool:
        return self.access.pace_offered

    @property
    def clone_check(self) -> str:
        """The result that says whether the chip is the original: chip authentication when it
        ran (it supersedes active authentication), else active authentication."""
        if self.chip_auth.status in (PASSED, FAILED):
            return self.chip_auth.status
        return self.active_auth.status

    @property
    def face_image(self) -> bytes | None:
        return self.face.data if self.face else None

    @property
    def face_format(self) -> str | None:
        return self.face.format if self.face else None

    def write_face(self, out_dir: str | Path) -> Path | None:
        """Write ``face.jpg`` or ``face.jp2`` under ``out_dir``; its path."""
        if self.face is None:
            return None
        path = Path(out_dir) / f"face{self.face.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.face.data)
        return path

    def to_dict(self, face_path: str | Path | None = None) -> dict[str, Any]:
        """The ``appliance card read`` JSON."""
        return {
            "ok": True,
            "dg1": self.dg1.to_dict() if self.dg1 else None,
            "dg13": self.dg13,
            "passive_auth": self.passive_auth.to_dict(),
            "active_auth": self.active_auth.to_dict(),
            "chip_auth": self.chip_auth.to_dict(),
            "face_image": str(face_path) if face_path else None,
            "face_format": self.face_format,
            "files": {name: len(data) for name, data in self.files.items()} | self.absent,
            "security_infos": self.security_infos.to_dict() if self.security_infos else None,
            "access": self.access.to_dict(),
            "errors": self.errors,
            "stats": self.stats.to_dict(),
        }
