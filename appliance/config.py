"""Typed, validated configuration.

Layers, later wins: ``config/appliance.toml`` (shipped defaults) -> ``config/profiles/NAME.toml``
-> the site file (``$APPLIANCE_CONFIG_DIR/appliance.toml``, default ``/etc/appliance``, or
``--config FILE``) -> environment overrides. Every layer is checked against the dataclasses below:
an unknown key, a wrong type or an unreadable file is a :class:`ConfigError` naming file and key.

Environment overrides:

* ``APPLIANCE_SIM=1``: every device backend becomes ``sim``.
* ``APPLIANCE_<SECTION>_<KEY>``: any scalar key, e.g. ``APPLIANCE_CAMERA_BACKEND=v4l2``,
  ``APPLIANCE_FINGERPRINT_PORT=/dev/pts/3``, ``APPLIANCE_SERVICE_PORT=8081``.
* ``APPLIANCE_STATE_DIR``, ``APPLIANCE_CONFIG_DIR``, ``APPLIANCE_PROFILE``: shorthands.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.field_rules import check_field_config

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG_DIR = Path("/etc/appliance")
PROFILES = ("sim", "commune-kiosk", "tourist-gate", "field-kit")
DEVICE_KINDS = ("camera", "fingerprint", "card_reader", "qr_scanner", "indicators")
MODES = ("enrollment", "checkin", "operator")


def shipped_config_dir() -> Path:
    """Folder with ``appliance.toml`` and ``profiles/`` (repo checkout or installed copy)."""
    env = os.environ.get("APPLIANCE_SHIPPED_CONFIG")
    if env:
        return Path(env)
    repo = PACKAGE_DIR.parent / "config"
    if (repo / "appliance.toml").is_file():
        return repo
    return Path("/usr/share/appliance/config")


@dataclass
class ServiceConfig:
    """The daemon itself."""

    mode: str = "enrollment"
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: str = "/var/lib/appliance"
    log_level: str = "INFO"
    device_retry_s: float = 5.0
    device_name: str = "appliance"


@dataclass
class DeviceConfig:
    """Keys every device section has."""

    backend: str = "sim"
    required: bool = True
    # Simulator fault injection: "" (none), "open" (fails to open), "vanish" (unplugged after
    # opening), "timeout" (never answers). Used by tests and by technicians rehearsing doctor.
    sim_fault: str = ""


@dataclass
class CameraConfig(DeviceConfig):
    width: int = 640
    height: int = 480
    fps: float = 15.0
    device: str = "/dev/video0"
    exposure_us: int = 0
    awb: str = "auto"
    sim_source: str = ""


@dataclass
class FingerprintConfig(DeviceConfig):
    port: str = "/dev/serial0"
    baud: int = 57600
    upload_baud: int = 115200
    model: str = "r307"
    address: int = 0xFFFFFFFF
    password: int = 0
    timeout_s: float = 2.0
    retries: int = 2  # bounded retries of a garbled answer or image upload
    open_timeout_s: float = 6.0  # looking for the module at each baud rate, in rounds
    ready_wait_s: float = 0.3  # listening for the ready byte (0x55) after opening
    poll_s: float = 0.1  # GenImg polling interval while waiting for a finger
    sim_finger_delay_s: float = 1.0
    sim_source: str = ""  # sim: a folder of print images; empty: generated prints
    sim_protocol: bool = False  # sim: run the real r30x driver against the pty simulator


@dataclass
class CardReaderConfig(DeviceConfig):
    reader: str = ""
    max_file_bytes: int = 65536
    trust_dir: str = ""
    extended_length: str = "auto"  # auto (reader and ATR say so) | on | off
    block_size: int = 0  # 0 = start at the largest and step down; else the first block size
    read_timeout_s: float = 30.0  # a whole chip read, BAC to passive authentication
    access: str = "auto"  # auto (PACE when offered, else BAC) | pace | bac
    pace_fallback: str = "not_supported"  # BAC after a PACE failure: not_supported|always|never
    chip_auth: bool = True  # chip authentication when DG14 offers it (supersedes AA)
    face_max_pixels: int = 1_000_000  # a chip photo declaring more is not decoded
    face_max_bytes: int = 4_000_000  # nor one whose decoded pixels would take more bytes
    sim_insert_after_s: float = 1.0
    sim_card_fault: str = ""  # emulated chip fault: wrong_mac, truncated_tlv, oversized_length, ...
    sim_max_le: int = 0  # emulated chip refuses READ BINARY Le above this (0 = no limit)
    sim_card_access: str = "bac"  # emulated chip: bac | pace | both (PACE with the CAN or MRZ)
    sim_card_ca: bool = False  # emulated chip offers chip authentication (DG14)


@dataclass
class QrScannerConfig(DeviceConfig):
    port: str = "/dev/ttyACM0"
    baud: int = 9600
    terminator: str = "\r"
    decoder: str = "zxing"
    dedupe_s: float = 3.0
    sim_payloads: str = ""
    sim_interval_s: float = 5.0


@dataclass
class IndicatorsConfig(DeviceConfig):
    backend: str = "mock"
    led_green: int = 17
    led_red: int = 27
    led_busy: int = 22
    buzzer: int = 23
    gate_relay: int = 24
    help_button: int = 25
    presence: int = 0
    relay_active_high: bool = True
    max_gate_pulse_ms: int = 3000


@dataclass
class StoreConfig:
    """Data store, sealing, outbox and retention (docs/data-lifecycle.md)."""

    office_public_key: str = ""  # PEM X25519 public key captures are sealed to; required
    demo_office_key: bool = False  # simulator only: an office key pair in the state dir
    upload_url: str = ""  # https://...; "" = no upload (export to USB instead)
    upload_method: str = "PUT"  # PUT (to upload_url/<bundle_id>) or POST (to upload_url)
    upload_token_file: str = ""  # file holding a bearer token; "" = no Authorization header
    upload_ca_file: str = ""  # CA bundle for the office endpoint; "" = system trust store
    upload_timeout_s: float = 60.0
    upload_connect_timeout_s: float = 10.0
    backoff_base_s: float = 10.0
    backoff_max_s: float = 1800.0
    poll_s: float = 60.0
    captures_days: int = 30
    checkins_days: int = 30
    consent_days: int = 365
    uploaded_grace_days: int = 7
    unsent_days: int = 180
    required_consent_purposes: list[str] = field(default_factory=list)


@dataclass
class HubConfig:
    """The office hub (docs/office-hub.md): it is reached at ``[store] upload_url`` with the
    upload token; this section only says how often the kiosk reports its health."""

    heartbeat_s: float = 60.0  # 0 = no heartbeats


@dataclass
class UiConfig:
    """The kiosk screens and workflows (docs/ui.md). Every timeout is in seconds."""

    language: str = "vi"  # the language every session starts in: vi | en
    idle_s: float = 60.0  # a screen waiting for the citizen; any touch restarts the count
    card_s: float = 45.0  # waiting for the card to be put on the reader
    chip_read_s: float = 30.0  # reading the chip
    face_s: float = 60.0  # live face capture
    finger_s: float = 40.0  # one finger, all its attempts
    save_s: float = 20.0  # sealing and saving a capture
    message_s: float = 20.0  # receipt, result, error and goodbye screens before the start screen
    gate_result_s: float = 3.0  # the green or red check-in screen
    confirm_s: float = 1.2  # "photo taken" / "good, lift your finger" before the next step
    operator_idle_s: float = 300.0  # an operator left idle is logged out
    help_signal_s: float = 60.0  # how long a help call keeps signalling staff
    consent_purposes: list[str] = field(default_factory=lambda: ["face", "fingerprints"])
    consent_version: str = "2025-01"  # version of the consent text in i18n/*.json
    verify_face: bool = True  # verification offers the live face check against the chip photo
    liveness_challenges: list[str] = field(
        default_factory=lambda: ["turn_left", "turn_right", "blink"]
    )  # drawn at random per session (docs/face.md)
    fingers: list[str] = field(default_factory=lambda: ["right_index", "left_index"])
    operator_pin_hash: str = ""  # scrypt hash; "" = the one `appliance provision` wrote
    pin_max_attempts: int = 5  # wrong PINs in a row before a lockout
    pin_lockout_s: float = 300.0
    # spoken guidance, languages and help offers (docs/audio-pack.md, README "Voice, ...")
    voice: bool = False  # speak each new screen (eSpeak NG or the language's audio pack)
    volume: float = 0.8  # starting volume 0..1 (the citizen can change it on screen)
    help_after_s: float = 15.0  # guidance repeating without progress: offer staff / skip finger
    packs_dir: str = ""  # language and audio packs; "" = appliance/kiosk_ui/packs


@dataclass
class FaceConfig:
    """Face quality policy, live capture and the stored portrait (docs/face.md)."""

    threads: int = 1  # inference threads per model
    min_detection_score: float = 0.6
    second_face_min_ratio: float = 0.5  # a face this wide relative to the largest counts too
    far_faces: bool = True  # full-range detector when the short-range one finds no face
    min_far_detection_score: float = 0.4  # chosen on generated far faces (docs/face.md)
    min_inter_eye_px: float = 90.0  # ICAO minimum (240 recommended)
    max_yaw_deg: float = 5.0  # ICAO
    max_pitch_deg: float = 5.0  # ICAO
    max_roll_deg: float = 8.0  # ICAO
    min_margin: float = 0.0  # head to frame border, in head heights; below = cropped
    min_eyes_open: float = 0.16  # eyelid gap / eye width (iris model), the more closed eye
    eye_model: bool = True  # eyes_open from the iris model (~2 ms/eye); false: Face Mesh's lids
    max_mouth_open: float = 0.20  # inner-lip gap / inter-eye distance
    min_sharpness: float = 1.1  # sqrt(Laplacian / gradient energy) on the 96-px face crop
    min_luminance: float = 0.25  # mean face luminance, 0..1
    max_luminance: float = 0.80
    max_under_exposure: float = 0.10  # share of face pixels <= 25 of 255
    max_over_exposure: float = 0.05  # share of face pixels >= 247 of 255
    min_illumination_uniformity: float = 0.70  # darker / brighter half of the face
    max_background_gradient: float = 12.0  # mean gradient beside and above the head
    # whole-frame light, judged when no face is found (docs/face.md)
    max_frame_over_exposure: float = 0.15  # share of frame pixels >= 247 of 255
    max_frame_luminance: float = 0.80
    max_frame_under_exposure: float = 0.25  # share of frame pixels <= 25 of 255
    min_frame_luminance: float = 0.25
    consecutive_frames: int = 5  # passing frames in a row; the best of them is kept
    portrait_height: int = 640  # stored portrait, 3:4 (width = 3/4 of this)
    portrait_head_fraction: float = 0.72  # chin to crown / portrait height (ICAO 0.70-0.80)
    portrait_crown_margin: float = 0.10  # space above the crown / portrait height
    jpeg_quality: int = 90
    # 1:1 comparison with the chip portrait (docs/face.md "Live face against the chip photo")
    match_threshold: float = 0.50  # similarity (1 - embedding distance), set on development people
    match_min_inter_eye_px: float = 25.0  # below: cannot_tell
    match_max_pose_deg: float = 25.0  # |yaw| or |pitch| above: cannot_tell
    liveness_time_limit_s: float = 8.0  # to do the challenge (turn the head, blink)
    liveness_frontal_deg: float = 15.0  # |yaw| of the frames that set the turn baseline
    liveness_turn_deg: float = 25.0  # yaw change that counts as a turn (talking moves 10-20)
    liveness_blink_ratio: float = 0.55  # eye opening below this share of the open baseline


@dataclass
class FingerConfig:
    """Fingerprint quality policy and capture attempts (docs/fingerprint.md).

    The finger sequence is ``[ui] fingers``. Thresholds apply to the features of
    ``appliance finger check``; the defaults were calibrated on the development fingers of
    real prints (docs/fingerprint.md).
    """

    threads: int = 1  # inference threads for the score model
    max_attempts: int = 3  # per finger; the best print is kept
    wait_timeout_s: float = 15.0  # waiting for the finger on each attempt
    pass_score: float = 28.0  # score 0-100 (NFIQ 2 scale) needed to pass
    no_finger_area: float = 0.06  # share of the frame with ridges below this: no finger
    partial_area: float = 0.56  # ... below this: partial (judged on the sensor's own frame)
    off_center: float = 0.17  # finger centre this far from the frame centre (of its size)
    off_center_border: float = 0.2  # ... and covering this share of the frame border
    wet_blobs: float = 0.01  # share of the finger in merged dark blotches above this: too wet
    dry_sparse: float = 0.62  # share of sparse light blocks above this ...
    dry_ink: float = 0.36  # ... and the finger's mean darkness below this: too dry
    low_contrast: float = 0.30  # (p99 - p1) grey of the frame below this (of 255): low contrast
    smudged_ocl: float = 0.58  # orientation certainty below this (no other cause): smudged

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("must be at least 1", key="finger.max_attempts")
        if not 0 <= self.pass_score <= 100:
            raise ConfigError("must be between 0 and 100", key="finger.pass_score")


@dataclass
class GateConfig:
    """QR check-in at a tourist-site gate (docs/qr-gate.md).

    The check-in log's retention is ``[store] checkins_days`` (the store owns every period).
    """

    expired: str = "refuse"  # an expired card: admit | refuse
    unknown_layout: str = "refuse"  # a QR layout not known yet (newer cards): admit | refuse
    assurance: str = "qr"  # qr: the QR alone | chip: the card must be tapped and verify
    chip_wait_s: float = 10.0  # with assurance = "chip": how long to wait for the tap
    face_check: bool = False  # with assurance = "chip": the live face must match the chip's photo
    duplicate_window_s: float = 1800.0  # the same card admitted again within this: duplicate
    relay_pulse_ms: int = 1500  # gate relay pulse on admit (capped by max_gate_pulse_ms)
    seal_records: bool = False  # seal the full QR record to the office key with each check-in

    def __post_init__(self) -> None:
        for key in ("expired", "unknown_layout"):
            if getattr(self, key) not in ("admit", "refuse"):
                raise ConfigError("must be admit or refuse", key=f"gate.{key}")
        if self.assurance not in ("qr", "chip") or self.chip_wait_s <= 0:
            raise ConfigError("qr or chip, chip_wait_s more than 0", key="gate.assurance")
        if self.face_check and self.assurance != "chip":
            raise ConfigError('needs assurance = "chip"', key="gate.face_check")
        if self.duplicate_window_s < 0:
            raise ConfigError("must be 0 (off) or more", key="gate.duplicate_window_s")
        if not 0 < self.relay_pulse_ms <= 60000:
            raise ConfigError("must be between 1 and 60000", key="gate.relay_pulse_ms")


@dataclass
class UpdateConfig:
    """Signed A/B system updates (docs/updates.md)."""

    manifest_url: str = ""  # the hub's signed update manifest; "" = updates from USB only
    channel: str = "stable"  # manifests for another channel are refused
    site: str = ""  # rollout site name in the manifest ("" = the manifest's default share)
    keyring: str = "/etc/appliance/update-keyring.pem"  # office update-signing certificate(s)
    ca_file: str = ""  # CA bundle for the hub; "" = system trust store
    download_dir: str = ""  # "" = <state_dir>/update, on the data partition
    confirm_within_s: float = 300.0  # a trial boot must be healthy within this, or it is undone
    hold_s: float = 900.0  # the start screen refuses sessions at most this long for an install
    timeout_s: float = 30.0  # one HTTP read
    retries: int = 20  # resumed download attempts per poll


@dataclass
class Config:
    """The whole, validated configuration."""

    profile: str = "sim"
    service: ServiceConfig = field(default_factory=ServiceConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    card_reader: CardReaderConfig = field(default_factory=CardReaderConfig)
    qr_scanner: QrScannerConfig = field(default_factory=QrScannerConfig)
    indicators: IndicatorsConfig = field(default_factory=IndicatorsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    finger: FingerConfig = field(default_factory=FingerConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    sources: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return Path(self.service.state_dir)

    @property
    def update_dir(self) -> Path:
        """Downloads and the updater's state (``[update] download_dir``, default in state_dir)."""
        return Path(self.update.download_dir or self.state_dir / "update")

    def device(self, kind: str) -> Any:
        """The config section of one device kind."""
        return getattr(self, kind)


# --- loading -------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except PermissionError:
        raise ConfigError("permission denied", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=str(path)) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(value: Any, tp: Any, where: str, file: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            try:
                return _check_value(value, arm, where, file)
            except ConfigError:
                continue
        raise ConfigError(f"expected {tp}, got {type(value).__name__}", file=file, key=where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {type(value).__name__}", file=file, key=where)
        return [_check_value(v, item_tp, f"{where}[{i}]", file) for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {type(value).__name__}", file=file, key=where)
        return {k: _check_value(v, val_tp, f"{where}.{k}", file) for k, v in value.items()}
    if tp is type(None):
        if value is not None:
            raise ConfigError("expected nothing", file=file, key=where)
        return None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {type(value).__name__}", file=file, key=where)
        return _build(tp, value, where, file)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is Any:
        return value
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(
            f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}", file=file, key=where
        )
    return value


def _build(cls: type, data: dict[str, Any], prefix: str, file: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else key
        if key not in names or key == "sources":
            raise ConfigError("unknown key", file=file, key=where)
        kwargs[key] = _check_value(value, hints[key], where, file)
    return cls(**kwargs)


def _validate_layer(data: dict[str, Any], file: str) -> None:
    """Type-check one file on its own so errors name the file that holds the mistake."""
    _build(Config, data, "", file)


def _env_overrides(env: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    hints = typing.get_type_hints(Config)
    out: dict[str, Any] = {}
    used: list[str] = []
    sections = sorted(
        (f.name for f in dataclasses.fields(Config) if dataclasses.is_dataclass(hints[f.name])),
        key=len,
        reverse=True,
    )
    for name, raw in env.items():
        if not name.startswith("APPLIANCE_"):
            continue
        rest = name[len("APPLIANCE_") :].lower()
        for section in sections:
            if not rest.startswith(section + "_"):
                continue
            key = rest[len(section) + 1 :]
            sect_hints = typing.get_type_hints(hints[section])
            if key not in sect_hints:
                break
            out.setdefault(section, {})[key] = _coerce_env(raw, sect_hints[key], name)
            used.append(name)
            break
    if "APPLIANCE_STATE_DIR" in env:
        out.setdefault("service", {})["state_dir"] = env["APPLIANCE_STATE_DIR"]
        used.append("APPLIANCE_STATE_DIR")
    if env.get("APPLIANCE_SIM", "") not in ("", "0", "false", "no"):
        for kind in DEVICE_KINDS:
            out.setdefault(kind, {})["backend"] = "mock" if kind == "indicators" else "sim"
        used.append("APPLIANCE_SIM")
    return out, used


def _coerce_env(raw: str, tp: Any, name: str) -> Any:
    try:
        if tp is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if tp is int:
            return int(raw, 0)
        if tp is float:
            return float(raw)
    except ValueError:
        raise ConfigError(
            f"expected {_type_name(tp)}, got {raw!r}", file="environment", key=name
        ) from None
    return raw


def load_config(
    profile: str | None = None,
    config_file: str | Path | None = None,
    *,
    sim: bool = False,
    env: dict[str, str] | None = None,
) -> Config:
    """Load and validate the layered configuration.

    ``profile`` beats ``APPLIANCE_PROFILE``, which beats the site file's ``profile`` key;
    the default is ``sim``. ``config_file`` replaces the site file; when it is given it must exist.
    """
    env = dict(os.environ if env is None else env)
    shipped = shipped_config_dir()
    base_file = shipped / "appliance.toml"
    layers: list[tuple[str, dict[str, Any]]] = [(str(base_file), _read_toml(base_file))]

    if config_file is not None:
        site_path: Path | None = Path(config_file)
    else:
        site_path = (
            Path(env.get("APPLIANCE_CONFIG_DIR", str(DEFAULT_CONFIG_DIR))) / "appliance.toml"
        )
        if not site_path.is_file():
            site_path = None
    site = _read_toml(site_path) if site_path else {}

    name = profile or env.get("APPLIANCE_PROFILE") or site.get("profile") or "sim"
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}",
            file=str(site_path) if site.get("profile") == name else None,
            key="profile",
        )
    prof_file = shipped / "profiles" / f"{name}.toml"
    layers.append((str(prof_file), _read_toml(prof_file)))
    if site_path:
        layers.append((str(site_path), site))

    overrides, used = _env_overrides(env)
    if sim:
        for kind in DEVICE_KINDS:
            overrides.setdefault(kind, {})["backend"] = "mock" if kind == "indicators" else "sim"
        used.append("--sim")
    layers.append(("environment", overrides))

    merged: dict[str, Any] = {}
    for file, data in layers:
        _validate_layer(data, file)
        merged = _merge(merged, data)
    merged["profile"] = name
    cfg = _build(Config, merged, "", "merged config")
    cfg.sources = [f for f, _ in layers[:-1]] + ((used and [f"env: {', '.join(used)}"]) or [])
    _check_semantics(cfg)
    return cfg


def load_config_for(args: Any) -> Config:
    """The config a CLI command asked for with ``--profile``, ``--config`` and ``--sim``."""
    return load_config(
        getattr(args, "profile", None),
        getattr(args, "config", None),
        sim=getattr(args, "sim", False),
    )


def _check_semantics(cfg: Config) -> None:
    check_field_config(cfg)
    if cfg.service.mode not in MODES:
        raise ConfigError(f"must be one of {', '.join(MODES)}", key="service.mode")
    if not 0 < cfg.service.port < 65536:
        raise ConfigError("must be between 1 and 65535", key="service.port")
    if cfg.service.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("must be DEBUG, INFO, WARNING or ERROR", key="service.log_level")
    from appliance.hal.registry import BACKENDS

    for kind in DEVICE_KINDS:
        backend = cfg.device(kind).backend
        if backend not in BACKENDS[kind]:
            raise ConfigError(
                f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS[kind])}",
                key=f"{kind}.backend",
            )
