"""What the kiosk says for each face reason code, in Vietnamese and English.

The UI shows the instruction for the first reason of the latest assessment (reasons come in the
order of :data:`appliance.pipeline.face_quality.REASONS`), ``HOLD_STILL`` while frames pass and
``CAPTURED`` once the portrait is kept. Short imperative sentences: the citizen reads them while
moving.
"""

from __future__ import annotations

from collections.abc import Sequence

GUIDANCE: dict[str, dict[str, str]] = {
    "no_face": {
        "vi": "Hãy đứng trước máy ảnh và nhìn vào màn hình.",
        "en": "Stand in front of the camera and look at the screen.",
    },
    "multiple_faces": {
        "vi": "Chỉ một người đứng trước máy ảnh.",
        "en": "Only one person in front of the camera, please.",
    },
    "cropped": {
        "vi": "Hãy để cả đầu nằm trong khung hình.",
        "en": "Keep your whole head inside the frame.",
    },
    "face_too_small": {
        "vi": "Hãy tiến lại gần hơn.",
        "en": "Move closer.",
    },
    "face_too_large": {
        "vi": "Hãy lùi lại một chút.",
        "en": "Move back a little.",
    },
    "off_center": {
        "vi": "Hãy đứng vào giữa khung hình.",
        "en": "Move to the centre of the frame.",
    },
    "yaw": {
        "vi": "Hãy quay mặt nhìn thẳng vào máy ảnh.",
        "en": "Turn your face straight towards the camera.",
    },
    "pitch": {
        "vi": "Hãy giữ đầu thẳng, không ngẩng lên hay cúi xuống.",
        "en": "Keep your head level: chin neither up nor down.",
    },
    "roll": {
        "vi": "Hãy giữ đầu thẳng, không nghiêng sang bên.",
        "en": "Keep your head upright, not tilted to one side.",
    },
    "eyes_closed": {
        "vi": "Hãy mở mắt.",
        "en": "Keep your eyes open.",
    },
    "mouth_open": {
        "vi": "Hãy khép miệng lại.",
        "en": "Close your mouth.",
    },
    "blurry": {
        "vi": "Hãy đứng yên trong giây lát.",
        "en": "Hold still for a moment.",
    },
    "too_dark": {
        "vi": "Ảnh quá tối: hãy đứng vào chỗ sáng hơn.",
        "en": "Too dark: move to where there is more light.",
    },
    "too_bright": {
        "vi": "Ảnh quá sáng: hãy tránh ánh sáng chiếu thẳng vào mặt.",
        "en": "Too bright: avoid direct light on your face.",
    },
    "uneven_light": {
        "vi": "Ánh sáng trên mặt không đều: hãy đứng để hai bên mặt được chiếu sáng như nhau.",
        "en": "Uneven light on your face: stand so both sides are lit alike.",
    },
    "busy_background": {
        "vi": "Phía sau cần là phông nền trơn: hãy đứng trước phông nền.",
        "en": "A plain background is needed: stand in front of the backdrop.",
    },
}

HOLD_STILL = {"vi": "Giữ nguyên tư thế…", "en": "Hold still…"}
CAPTURED = {"vi": "Đã chụp xong.", "en": "Photo taken."}
LANGUAGES = ("vi", "en")


def instruction(reasons: Sequence[str], lang: str = "vi") -> str:
    """The one instruction to show for ``reasons`` (the first known code), else "hold still"."""
    lang = lang if lang in LANGUAGES else "vi"
    for code in reasons:
        if code in GUIDANCE:
            return GUIDANCE[code][lang]
    return HOLD_STILL[lang]
