"""Which way to move, for the face guidance's ``off_center`` (the pictogram's arrow, the voice).

The preview is shown mirrored, so the citizen's left is the image's left as they see it: a face
whose centre lies left of the frame's centre in the camera's (unmirrored) image stands to the
citizen's right, and should move to their left.
"""

from __future__ import annotations

from typing import Any


def face_direction(assessment: Any) -> str | None:
    """``left`` or ``right`` (the citizen's) when the face is off-centre sideways, else None."""
    if "off_center" not in (assessment.reasons or []) or assessment.face is None:
        return None
    width, height = assessment.frame_size
    if not width or not height:
        return None
    x0, y0, x1, y1 = assessment.face.portrait
    dx = (x0 + x1) / 2 / width - 0.5
    dy = (y0 + y1) / 2 / height - 0.5
    if abs(dx) < abs(dy) or abs(dx) < 0.02:
        return None
    return "left" if dx < 0 else "right"
