"""The service side of verification's live face check (``ServiceAdapters.verify_face``).

The camera runs in the adapters' device thread with the live preview on; the recognition model
loads once per service. Only :meth:`VerifyOutcome.record` comes back: the frames and the
embeddings end in :func:`appliance.pipeline.face_verify.live_check`, never stored or logged.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from appliance.pipeline.face_match import FaceMatcher
from appliance.pipeline.face_verify import live_check


async def verify_face(
    adapters: Any, preview_camera: Any, photo: bytes, challenge: str, update
) -> dict[str, Any]:
    """Run the challenge and the comparison on ``adapters``' camera, wrapped in
    ``preview_camera(camera, sink)`` for the live preview; returns the record."""
    camera = adapters.device("camera")
    adapters.preview.active = True
    loop = asyncio.get_running_loop()
    try:
        if getattr(adapters, "_face_matcher", None) is None:  # loads once, off the event loop
            adapters._face_matcher = await asyncio.to_thread(FaceMatcher, adapters.cfg.face)

        def on_frame(a: Any, state: str) -> None:  # the camera thread
            msg = {"verdict": a.verdict, "reasons": list(a.reasons), "liveness": state}
            loop.call_soon_threadsafe(update, msg)

        def sink(jpeg: bytes) -> None:
            loop.call_soon_threadsafe(adapters.preview.publish, jpeg)

        stop = threading.Event()
        try:
            cam = preview_camera(camera, sink)
            outcome = await adapters.call(
                "camera", live_check, cam, adapters._face_matcher, photo, challenge, stop, on_frame
            )
        finally:
            stop.set()
    finally:
        adapters.preview.stop()
    return outcome.record()
