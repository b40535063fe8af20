"""Seeded generator of camera frames showing a hand holding a CCCD in front of the kiosk camera.

Each frame holds one card whose QR carries a synthetic citizen's payload (Vietnamese names and
addresses in UTF-8, as on a real card). A :class:`SceneSpec` says how the frame was made: QR
module size in pixels (small to frame-filling), rotation, perspective, blur (defocus or motion),
noise, JPEG quality, contrast and a glare patch, so the benchmark can break its figures down by
condition. The same seed always gives the same frame.

Used by ``tools/make_qr_corpus.py`` (the benchmark corpus) and by the tests (a few frames made
on the fly). QR symbols come from zxing-cpp's writer, fed the UTF-8 bytes (byte mode, no ECI),
which is how the cards are printed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from appliance.cccd.provinces import provinces
from appliance.cccd.qr import build_payload

MANIFEST = "manifest.jsonl"
RESOLUTIONS = ((1280, 720), (640, 480))

# fmt: off
SURNAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Đoàn", "Lương", "Mai", "Tô", "Hà", "Cao", "Lâm",
    "Chu", "Quách", "Thái", "Ứng", "Âu",
)
MIDDLE = (
    "Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Xuân", "Thu", "Kim", "Bảo",
    "Gia", "Phương", "Anh", "Hoài", "Công", "Đình", "Thùy", "Mỹ", "Khắc", "Trọng", "Như", "Diệu",
    "Ánh",
)
GIVEN = (
    "An", "Ánh", "Bình", "Cúc", "Dũng", "Đạt", "Giang", "Hà", "Hải", "Hằng", "Hiếu", "Hoa", "Hùng",
    "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Nhung", "Phúc", "Phước", "Quân",
    "Quỳnh", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Tuyết", "Uyên",
    "Vân", "Việt", "Yến", "Ước", "Ửng", "Nguyệt", "Khuê", "Đông", "Luỹ", "Ngữ", "Ẩn", "Ỷ",
)
STREETS = (
    "Phố Huế", "Đường Láng", "Phố Hàng Bạc", "Đường Trần Phú", "Phố Lê Lợi", "Đường Nguyễn Trãi",
    "Đường Lý Thường Kiệt", "Phố Đinh Tiên Hoàng", "Đường Quang Trung", "Đường Điện Biên Phủ",
)
WARDS = (
    "Phường Quang Trung", "Phường Lê Hồng Phong", "Xã Thanh Sơn", "Phường Trần Hưng Đạo",
    "Xã Kim Bảng", "Thị trấn Kiện Khê", "Phường Hai Bà Trưng", "Xã Tiên Hải", "Xã Đồng Hóa",
)
DISTRICTS = (
    "Thành phố Phủ Lý", "Huyện Thanh Liêm", "Huyện Kim Bảng", "Thị xã Duy Tiên", "Huyện Bình Lục",
    "Quận Hoàn Kiếm", "Quận Đống Đa", "Huyện Lý Nhân", "Quận Ngũ Hành Sơn",
)
# fmt: on

# A name that zbar's default mode turns into Shift-JIS garbage (DOMAIN.md section 1).
GARBLED_BY_ZBAR = "Bùi Văn Ánh"


def random_identity(rng: np.random.Generator, *, upper: bool | None = None) -> dict[str, Any]:
    """A fictitious citizen shaped like ``appliance.citizen.TEST_CITIZEN``, valid for parse_qr."""
    codes = sorted(provinces())
    code = codes[int(rng.integers(len(codes)))]
    sex = "male" if rng.random() < 0.5 else "female"
    dob = date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 68 * 365)))  # born by 2007
    earliest = max(date(2021, 1, 1), dob.replace(year=dob.year + 15, day=min(dob.day, 28)))
    issued = earliest + timedelta(days=int(rng.integers(0, (date(2024, 6, 30) - earliest).days)))
    g = 2 * ((dob.year - 1900) // 100) + (sex == "female")
    serial = "".join(str(int(d)) for d in rng.integers(0, 10, 6))
    middle = "Thị" if sex == "female" and rng.random() < 0.6 else MIDDLE[rng.integers(len(MIDDLE))]
    name = " ".join(
        (SURNAMES[rng.integers(len(SURNAMES))], middle, GIVEN[rng.integers(len(GIVEN))])
    )
    upper = bool(rng.random() < 0.7) if upper is None else upper
    address = ", ".join(
        (
            f"Số {int(rng.integers(1, 300))} {STREETS[rng.integers(len(STREETS))]}",
            WARDS[rng.integers(len(WARDS))],
            DISTRICTS[rng.integers(len(DISTRICTS))],
            provinces()[code],
        )
    )
    return {
        "id_number": f"{code}{g}{dob.year % 100:02d}{serial}",
        "old_id_number": (
            "".join(str(int(d)) for d in rng.integers(0, 10, 9)) if rng.random() < 0.5 else None
        ),
        "full_name": name.upper() if upper else name,
        "date_of_birth": dob.isoformat(),
        "sex": sex,
        "address": address,
        "issue_date": issued.isoformat(),
    }


def qr_modules(payload: bytes, ec_level: str = "M", writer: str = "opencv") -> np.ndarray:
    """The QR symbol as a bool matrix (True = dark), one cell per module, no quiet zone.

    ``opencv``: one byte-mode segment, no ECI (how common writers such as ZXing's Java encoder
    print a card). ``zxing``: zxing-cpp's writer, which mixes numeric and byte segments.
    """
    if writer == "zxing":
        import zxingcpp

        barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level)
        img = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=1, add_quiet_zones=False))
        return img < 128
    import cv2

    params = cv2.QRCodeEncoder_Params()
    params.mode = cv2.QRCodeEncoder_MODE_BYTE
    params.correction_level = getattr(cv2, f"QRCodeEncoder_CORRECT_LEVEL_{ec_level}")
    img = cv2.QRCodeEncoder.create(params).encode(payload.decode("utf-8"))
    dark = img < 128
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    return dark[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def qr_image(
    payload: bytes, module_px: int = 4, quiet: int = 4, writer: str = "opencv"
) -> np.ndarray:
    """A clean grey QR image (white quiet zone of ``quiet`` modules)."""
    mods = np.pad(qr_modules(payload, writer=writer), quiet)
    img = np.where(mods, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((module_px, module_px), np.uint8))


@dataclass
class SceneSpec:
    """How one frame is made; every field is recorded in the corpus manifest."""

    width: int = 1280
    height: int = 720
    module_px: float = 4.0  # QR module size in the frame
    rotation_deg: float = 0.0
    perspective: float = 0.0  # corner jitter, fraction of the card size
    blur: float = 0.0  # Gaussian sigma in px (defocus)
    motion_px: int = 0  # motion blur length in px (0 = none)
    noise: float = 0.0  # Gaussian noise sigma (grey levels)
    jpeg_quality: int = 0  # 0 = lossless PNG
    contrast: float = 1.0  # 1 = full, 0.35 = washed out
    brightness: float = 0.0  # offset in grey levels
    glare: float = 0.0  # peak strength of the glare patch (0..1)
    glare_on_qr: bool = False  # the patch centre lies on the QR
    writer: str = "opencv"  # QR writer: opencv (one byte segment) or zxing (mixed segments)
    tags: list[str] = field(default_factory=list)


# (tag, share of the corpus): each frame gets one primary condition, plus mild random extras.
CONDITIONS = (
    ("clean", 0.10),
    ("small", 0.12),
    ("large", 0.10),
    ("rotation", 0.10),
    ("perspective", 0.10),
    ("blur", 0.10),
    ("motion", 0.06),
    ("noise", 0.08),
    ("jpeg", 0.08),
    ("low_contrast", 0.08),
    ("glare", 0.08),
)


def _module_range(spec_h: int, n: int) -> tuple[float, float]:
    return 2.0, 0.85 * spec_h / (n + 2)


def random_spec(rng: np.random.Generator, width: int, height: int, n_modules: int) -> SceneSpec:
    """A spec with one primary condition (drawn by share) and mild random extras."""
    tags = [t for t, _ in CONDITIONS]
    primary = tags[rng.choice(len(tags), p=np.array([s for _, s in CONDITIONS]))]
    lo, hi = _module_range(height, n_modules)
    mid_hi = min(hi, 6.0)
    spec = SceneSpec(
        width=width,
        height=height,
        module_px=float(math.exp(rng.uniform(math.log(2.8), math.log(mid_hi)))),
        rotation_deg=float(rng.normal(0, 8)),
        perspective=float(rng.uniform(0, 0.04)),
        blur=float(rng.uniform(0, 0.5)),
        noise=float(rng.uniform(0, 4)),
        jpeg_quality=int(rng.integers(75, 96)) if rng.random() < 0.6 else 0,
        contrast=float(rng.uniform(0.8, 1.0)),
        brightness=float(rng.uniform(-15, 15)),
        tags=[primary],
    )
    if primary == "small":
        spec.module_px = float(rng.uniform(lo, 2.8))
        spec.blur = min(spec.blur, 0.35)
    elif primary == "large":
        spec.module_px = float(rng.uniform(max(mid_hi, 0.6 * hi), hi))
    elif primary == "rotation":
        spec.rotation_deg = float(rng.uniform(-180, 180))
    elif primary == "perspective":
        spec.perspective = float(rng.uniform(0.06, 0.14))
    elif primary == "blur":
        spec.blur = float(rng.uniform(0.6, min(2.2, 0.4 * spec.module_px + 0.3)))
    elif primary == "motion":
        spec.motion_px = int(rng.integers(3, max(4, min(8, int(spec.module_px * 1.2)) + 1)))
    elif primary == "noise":
        spec.noise = float(rng.uniform(8, 16))
    elif primary == "jpeg":
        spec.jpeg_quality = int(rng.integers(30, 60))
    elif primary == "low_contrast":
        spec.contrast = float(rng.uniform(0.3, 0.5))
        spec.brightness = float(rng.uniform(-50, 40))
    elif primary == "glare":
        spec.glare = float(rng.uniform(0.4, 0.85))
        spec.glare_on_qr = bool(rng.random() < 0.5)
    # The whole QR (and a margin) must stay in the frame once rotated and skewed.
    theta = math.radians(spec.rotation_deg)
    span = (abs(math.cos(theta)) + abs(math.sin(theta))) * (1 + 2 * spec.perspective / QR_FRACTION)
    spec.module_px = min(spec.module_px, 0.92 * min(width, height) / ((n_modules + 4) * span))
    return spec


# --- rendering ----------------------------------------------------------------------------

CARD_W, CARD_H = 856, 540  # 85.6 x 54 mm at 10 px/mm (texture units)
QR_FRACTION = 0.23  # QR side / card width on the CCCD front (top right)
SKIN = ((198, 150, 120), (170, 120, 90), (225, 180, 150), (140, 95, 70))


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Kiosk surroundings: a lit gradient, a few blurred shapes (a person, the room)."""
    import cv2

    sw, sh = max(w // 8, 8), max(h // 8, 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    base = rng.uniform(60, 200, 3).astype(np.float32)
    grad = (xx / sw - 0.5) * rng.uniform(-60, 60) + (yy / sh - 0.5) * rng.uniform(-60, 60)
    small = np.clip(base[None, None, :] + grad[..., None], 0, 255)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        x1, y1 = x0 + int(rng.integers(2, sw // 2)), y0 + int(rng.integers(2, sh // 2))
        small[y0:y1, x0:x1] = rng.uniform(20, 235, 3)
    cx, cy = rng.uniform(0.3, 0.7) * sw, rng.uniform(0.3, 0.6) * sh  # a person behind the card
    face = ((xx - cx) / (0.12 * sw)) ** 2 + ((yy - cy) / (0.22 * sh)) ** 2 <= 1
    small[face] = SKIN[int(rng.integers(len(SKIN)))]
    img = cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(img, (0, 0), 3)


def _card_texture(rng: np.random.Generator, mods: np.ndarray, scale: float):
    """The card front at ``scale`` x texture units; returns (RGB, QR quad in texture px)."""
    import cv2

    w, h = round(CARD_W * scale), round(CARD_H * scale)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = np.array([232, 238, 236], np.float32) + rng.uniform(-12, 8, 3)
    wave = 10 * np.sin(xx / (23 * scale) + yy / (41 * scale)) * np.cos(yy / (17 * scale))
    card = np.clip(tint[None, None, :] + wave[..., None], 0, 255).astype(np.uint8)
    card[: round(0.16 * h)] = (200, 60, 50) if rng.random() < 0.2 else (226, 232, 240)
    s = scale
    cv2.circle(card, (round(70 * s), round(70 * s)), round(45 * s), (200, 30, 30), -1)
    cv2.circle(card, (round(70 * s), round(70 * s)), round(20 * s), (250, 210, 40), -1)
    for i, text in enumerate(("CONG HOA XA HOI CHU NGHIA VIET NAM", "CAN CUOC CONG DAN")):
        cv2.putText(
            card, text, (round(140 * s), round((45 + 40 * i) * s)), cv2.FONT_HERSHEY_SIMPLEX,
            0.8 * s, (40, 40, 90), max(1, round(2 * s)), cv2.LINE_AA,
        )  # fmt: skip
    cv2.rectangle(card, (round(40 * s), round(170 * s)), (round(230 * s), round(430 * s)),
                  (150, 170, 190), -1)  # fmt: skip
    cv2.ellipse(card, (round(135 * s), round(280 * s)), (round(55 * s), round(75 * s)), 0, 0, 360,
                SKIN[int(rng.integers(len(SKIN)))], -1)  # fmt: skip
    for i in range(6):
        y = round((200 + 48 * i) * s)
        x1 = round(rng.uniform(520, 600) * s) if i < 3 else round(rng.uniform(560, 800) * s)
        cv2.line(card, (round(260 * s), y), (x1, y), (50, 50, 60), max(1, round(5 * s)))
    n = mods.shape[0]
    side = QR_FRACTION * w
    px = max(1, round(side / n))
    qr = np.kron(np.where(mods, 20, 250).astype(np.uint8), np.ones((px, px), np.uint8))
    qx, qy = round(w - 0.04 * w - n * px), round(0.05 * h)
    pad = 2 * px
    card[qy - pad : qy + n * px + pad, qx - pad : qx + n * px + pad] = 250
    card[qy : qy + n * px, qx : qx + n * px] = qr[..., None]
    quad = np.array(
        [[qx, qy], [qx + n * px, qy], [qx + n * px, qy + n * px], [qx, qy + n * px]], np.float32
    )
    return card, quad, px


def render(payload: bytes, spec: SceneSpec, seed: int) -> np.ndarray:
    """One RGB frame (H x W x 3) showing the card with ``payload`` in its QR, as ``spec`` says."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = spec.width, spec.height
    mods = qr_modules(payload, writer=spec.writer)
    n = mods.shape[0]
    frame = _background(rng, w, h).astype(np.float32)

    # Texture scale: QR modules a little larger than in the frame, so the warp only shrinks.
    tex_px = max(2, math.ceil(spec.module_px * 1.3))
    scale = tex_px * n / (QR_FRACTION * CARD_W)
    card, qr_quad, px = _card_texture(rng, mods, scale)
    ch, cw = card.shape[:2]
    k = spec.module_px / px  # texture px -> frame px
    corners = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    jitter = rng.uniform(-1, 1, (4, 2)) * spec.perspective * np.array([cw, ch])
    theta = math.radians(spec.rotation_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    qc = qr_quad.mean(axis=0)
    # Place the QR centre where the whole QR (plus two modules) fits in the frame.
    src = corners + jitter
    m0 = cv2.getPerspectiveTransform(corners, src.astype(np.float32))
    q = cv2.perspectiveTransform(qr_quad[None], m0)[0]
    q = (q - qc) * k @ rot.T
    margin = 2 * spec.module_px
    lo = -q.min(axis=0) + margin
    hi = np.array([w, h]) - q.max(axis=0) - margin
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    target = np.array([rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])])
    dst = ((src - qc) * k) @ rot.T + target
    m = cv2.getPerspectiveTransform(corners, dst.astype(np.float32))
    warped = cv2.warpPerspective(card, m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ch, cw), 255, np.uint8), m, (w, h)) > 127
    frame[mask] = warped[mask]

    # The hand: a thumb over the card's lower left and fingers along its bottom edge.
    skin = np.array(SKIN[int(rng.integers(len(SKIN)))], np.float32)
    card_px = cw * k
    thumb = cv2.perspectiveTransform(np.array([[[0.12 * cw, 0.85 * ch]]], np.float32), m)[0, 0]
    palm = cv2.perspectiveTransform(np.array([[[0.3 * cw, 1.25 * ch]]], np.float32), m)[0, 0]
    hand = np.zeros((h, w), np.uint8)
    ang = spec.rotation_deg
    axes = (max(2, round(0.09 * card_px)), max(2, round(0.2 * card_px)))
    cv2.ellipse(hand, tuple(int(v) for v in thumb), axes, ang + 30, 0, 360, 255, -1)
    cv2.ellipse(hand, tuple(int(v) for v in palm), (round(0.35 * card_px), round(0.28 * card_px)),
                ang, 0, 360, 255, -1)  # fmt: skip
    shade = 0.85 + 0.15 * np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    frame = np.where(hand[..., None] > 0, skin * shade, frame)

    if spec.glare > 0:
        qr_frame = cv2.perspectiveTransform(qr_quad[None], m)[0]
        if spec.glare_on_qr:
            centre = qr_frame[int(rng.integers(4))] * 0.6 + qr_frame.mean(axis=0) * 0.4
        else:
            centre = cv2.perspectiveTransform(np.array([[[0.35 * cw, 0.4 * ch]]], np.float32), m)
            centre = centre[0, 0]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = max(8.0, 0.18 * card_px)
        g = np.exp(-(((xx - centre[0]) / r) ** 2 + ((yy - centre[1]) / (0.6 * r)) ** 2))
        alpha = (spec.glare * g)[..., None]
        frame = frame * (1 - alpha) + 255 * alpha

    if spec.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), spec.blur)
    if spec.motion_px > 1:
        kernel = np.zeros((spec.motion_px, spec.motion_px), np.float32)
        kernel[spec.motion_px // 2, :] = 1.0 / spec.motion_px
        rot_k = cv2.getRotationMatrix2D(
            (spec.motion_px / 2 - 0.5, spec.motion_px / 2 - 0.5), rng.uniform(0, 180), 1
        )
        kernel = cv2.warpAffine(kernel, rot_k, kernel.shape[::-1])
        frame = cv2.filter2D(frame, -1, kernel / max(kernel.sum(), 1e-6))
    mean = frame.mean()
    frame = (frame - mean) * spec.contrast + mean + spec.brightness
    if spec.noise > 0:
        frame = frame + rng.normal(0, spec.noise, frame.shape).astype(np.float32)
    out = np.clip(frame, 0, 255).astype(np.uint8)
    if spec.jpeg_quality:
        out = jpeg_roundtrip(out, spec.jpeg_quality)
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def save_frame(path: Path, rgb: np.ndarray, jpeg_quality: int = 0) -> None:
    """PNG, or JPEG at ``jpeg_quality`` (the frame already went through it: keep its bytes)."""
    import cv2

    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if jpeg_quality:
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    else:
        cv2.imwrite(str(path), bgr)


def make_corpus(
    out_dir: str | Path,
    count: int = 300,
    seed: int = 2024,
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
) -> Path:
    """Write ``count`` frames and ``manifest.jsonl`` (file, payload, spec) to ``out_dir``.

    Resolutions alternate; every fifth frame's citizen is :data:`GARBLED_BY_ZBAR`, and every
    tenth is also written with zxing-cpp's mixed-segment writer, whose separate byte segment for
    the name is what zbar's default mode reads as Shift-JIS: names that zbar garbles are always
    represented.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        width, height = resolutions[i % len(resolutions)]
        ident = random_identity(rng)
        if i % 5 == 0:
            ident["full_name"] = GARBLED_BY_ZBAR if i % 10 == 0 else GARBLED_BY_ZBAR.upper()
        payload = build_payload(ident)
        writer = "zxing" if rng.random() < 0.3 or i % 10 == 0 else "opencv"
        n = qr_modules(payload.encode(), writer=writer).shape[0]
        spec = random_spec(rng, width, height, n)
        spec.writer = writer
        # A frame is written once: a JPEG frame is saved at the spec's quality, not re-encoded.
        frame = render(payload.encode(), _no_jpeg(spec), seed=seed * 100_003 + i)
        name = f"qr-{i:04d}.{'jpg' if spec.jpeg_quality else 'png'}"
        save_frame(out / name, frame, spec.jpeg_quality)
        lines.append(json.dumps({"file": name, "payload": payload, "spec": asdict(spec)},
                                ensure_ascii=False))  # fmt: skip
    manifest = out / MANIFEST
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def _no_jpeg(spec: SceneSpec) -> SceneSpec:
    from dataclasses import replace

    return replace(spec, jpeg_quality=0)


def read_manifest(corpus: str | Path) -> list[dict[str, Any]]:
    """The corpus entries: ``{"file": absolute path, "payload": text, "spec": {...}}``."""
    root = Path(corpus)
    rows = []
    for line in (root / MANIFEST).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row["file"] = str(root / row["file"])
            rows.append(row)
    return rows
