"""``[ui] help_after_s``: a capture that keeps failing offers "call staff" (and "skip this finger").

Driven through the Kiosk with fake adapters and a fake clock: the offer comes at help_after_s
without progress, not before; progress restarts the count; "skip" before the offer is ignored;
a skipped finger is recorded as unavailable and the next finger follows.
"""

from __future__ import annotations

import asyncio

from test_workflow_enrollment import start_enrollment
from test_workflow_fakes import Driver, fast_cfg


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def driver(clock: FakeClock, **cfg) -> Driver:
    d = Driver(cfg=fast_cfg(face_s=60.0, finger_s=60.0, idle_s=60.0, **cfg))
    d.kiosk.clock = clock
    d.kiosk.last_activity = clock()
    return d


def offers(d: Driver) -> list[dict]:
    return [m for m in d.messages if m["type"] == "help_offer"]


async def until(predicate, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def reach_fingers(d: Driver, purposes=("fingerprints",)) -> None:
    await start_enrollment(d)
    await d.screen("enroll.confirm")
    d.send("confirm")
    await d.screen("enroll.consent")
    d.send("consent", purposes=list(purposes))


def failing_finger(d: Driver, passes: set[int] | None = None):
    """A sensor that keeps saying "too dry" (attempt n passes if n in ``passes``... never ends)."""
    attempts = {"n": 0}

    async def capture(finger, update):
        d.adapters.calls.append(f"finger:{finger}")
        while True:
            attempts["n"] += 1
            ok = passes is not None and attempts["n"] in passes
            update(
                {
                    "phase": "retry",
                    "finger": finger,
                    "verdict": "pass" if ok else "fail",
                    "feedback": [] if ok else ["too_dry"],
                    "attempt": attempts["n"],
                }
            )
            await asyncio.sleep(0.02)

    return capture


async def test_finger_help_offer_comes_at_help_after_s_and_skip_records_unavailable():
    clock = FakeClock()
    async with driver(clock, help_after_s=15.0) as d:
        d.adapters.capture_finger = failing_finger(d)
        await reach_fingers(d)
        data = await d.screen("enroll.finger")
        assert data["finger"] == "right_index"
        clock.now += 14.0
        await asyncio.sleep(0.6)  # updates and the poll keep checking: not yet
        assert offers(d) == []
        d.send("skip")  # not offered yet: ignored
        await asyncio.sleep(0.4)
        assert d.view["data"]["finger"] == "right_index"
        clock.now += 1.5
        await until(lambda: offers(d))
        [offer] = offers(d)
        assert offer["kind"] == "finger" and offer["skip"] is True
        assert offer["seq"] == d.view["seq"]  # belongs to this finger's screen
        assert "help_offer" in d.kiosk.live  # a reconnecting page gets it again
        d.send("skip")
        data = await d.screen("enroll.finger")
        assert data["finger"] == "left_index" and data["index"] == 2
        assert "help_offer" not in d.kiosk.live  # a new screen: no offer yet
        clock.now += 16.0
        await until(lambda: len(offers(d)) == 2)
        d.send("skip")
        await d.screen("enroll.review")
        assert d.view["data"]["fingers"] == [
            {"finger": "right_index", "verdict": "unavailable"},
            {"finger": "left_index", "verdict": "unavailable"},
        ]
        d.send("save")
        await d.screen("enroll.receipt")
        [saved] = d.adapters.saved
        assert [(f.verdict, f.image_png) for f in saved.fingers] == [("unavailable", None)] * 2


async def test_progress_restarts_the_count_and_the_setting_is_honoured():
    clock = FakeClock()
    async with driver(clock, help_after_s=5.0) as d:
        progressing = {"pass": False}

        async def capture(finger, update):
            while True:
                update({"phase": "capturing", "verdict": "pass" if progressing["pass"] else "fail"})
                progressing["pass"] = False
                await asyncio.sleep(0.02)

        d.adapters.capture_finger = capture
        await reach_fingers(d)
        await d.screen("enroll.finger")
        clock.now += 4.0
        progressing["pass"] = True  # an accepted frame: progress
        await asyncio.sleep(0.2)
        clock.now += 4.0  # 8 s since start, 4 s since progress
        await asyncio.sleep(0.6)
        assert offers(d) == []
        clock.now += 1.5  # 5.5 s since progress
        await until(lambda: offers(d))


async def test_face_offers_staff_only_and_a_good_capture_never_sees_an_offer():
    clock = FakeClock()
    async with driver(clock, help_after_s=15.0) as d:
        release = asyncio.Event()

        async def capture_face(update):
            while not release.is_set():
                update({"verdict": "fail", "reasons": ["too_dark"], "progress": 0.0})
                await asyncio.sleep(0.02)
            from appliance.pipeline.workflows.adapters import FaceResult

            return FaceResult(b"\xff\xd8portrait", {"verdict": "pass"})

        d.adapters.capture_face = capture_face
        await reach_fingers(d, purposes=("face",))
        await d.screen("enroll.face")
        clock.now += 15.5
        await until(lambda: offers(d))
        [offer] = offers(d)
        assert offer["kind"] == "face" and offer["skip"] is False
        d.send("skip")  # no skipping a face: the capture goes on
        await asyncio.sleep(0.4)
        assert d.view["screen"] == "enroll.face"
        release.set()
        await d.screen("enroll.review")


async def test_a_quick_finger_gets_no_offer():
    clock = FakeClock()
    async with driver(clock) as d:
        await reach_fingers(d)
        await d.screen("enroll.review")  # the fake sensor passes both fingers at once
        assert offers(d) == []
