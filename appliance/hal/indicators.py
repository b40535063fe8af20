"""LEDs, buzzer, gate relay, help button and presence sensor through gpiozero.

Backend ``gpiozero`` uses the board's pins (lgpio on a Pi); ``mock`` uses gpiozero's
MockFactory, so the very same code runs in the sim profile and in tests. The gate relay is
never latched: every pulse is bounded by ``max_gate_pulse_ms`` and a timer releases it; it is
released on open, close and ``release()``. Wire the gate so that a released relay means closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal.base import Indicators


class GpioIndicators(Indicators):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.factory = None
        self._devices: dict[str, object] = {}
        self._help_callbacks: list[Callable[[], None]] = []
        self._gate_timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def location(self) -> str:
        c = self.cfg
        return (
            f"GPIO green={c.led_green} red={c.led_red} busy={c.led_busy} buzzer={c.buzzer} "
            f"relay={c.gate_relay} help={c.help_button}"
            + (f" presence={c.presence}" if c.presence else "")
            + (" (mock pins)" if self.cfg.backend == "mock" else "")
        )

    def open(self) -> None:
        if getattr(self.cfg, "sim_fault", "") == "open":
            raise DeviceUnavailable("simulated GPIO is not available (sim_fault=open)")
        from gpiozero import LED, Button, Buzzer, DigitalInputDevice, OutputDevice
        from gpiozero.exc import GPIOZeroError

        if self.cfg.backend == "mock":
            from gpiozero.pins.mock import MockFactory

            self.factory = MockFactory()
        c = self.cfg
        pins = [c.led_green, c.led_red, c.led_busy, c.buzzer, c.gate_relay, c.help_button]
        pins += [c.presence] if c.presence else []
        if len(set(pins)) != len(pins):
            raise InvalidInput(f"two indicators share a GPIO pin: {pins}")
        kw = {"pin_factory": self.factory}
        try:
            self._devices = {
                "green": LED(c.led_green, **kw),
                "red": LED(c.led_red, **kw),
                "busy": LED(c.led_busy, **kw),
                "buzzer": Buzzer(c.buzzer, **kw),
                "relay": OutputDevice(
                    c.gate_relay, active_high=c.relay_active_high, initial_value=False, **kw
                ),
                "help": Button(c.help_button, bounce_time=0.05, **kw),
            }
            if c.presence:
                self._devices["presence"] = DigitalInputDevice(c.presence, **kw)
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            self._close_devices()
            raise DeviceUnavailable(f"cannot claim GPIO pins: {exc}") from None
        self._devices["help"].when_pressed = self._help_pressed  # type: ignore[attr-defined]
        self.is_open = True
        self.release()

    def fix_hint(self, exc: Exception) -> str | None:
        return (
            "check the pin numbers in [indicators] of /etc/appliance/appliance.toml, that no other "
            "program holds the pins, and that the service user is in the gpio group"
        )

    def _help_pressed(self) -> None:
        for callback in list(self._help_callbacks):
            callback()

    def on_help(self, callback: Callable[[], None]) -> None:
        self._help_callbacks.append(callback)

    def pin(self, name: str):
        """The gpiozero device behind ``name`` (green, red, busy, buzzer, relay, help, presence)."""
        return self._devices[name]

    def ok(self) -> None:
        self._require_open()
        self._devices["red"].off()  # type: ignore[attr-defined]
        self._devices["green"].blink(on_time=1.5, off_time=0, n=1)  # type: ignore[attr-defined]

    def error(self) -> None:
        self._require_open()
        self._devices["green"].off()  # type: ignore[attr-defined]
        self._devices["red"].blink(on_time=1.5, off_time=0, n=1)  # type: ignore[attr-defined]
        self._devices["buzzer"].blink(on_time=0.1, off_time=0.1, n=3)  # type: ignore[attr-defined]

    def busy(self, on: bool = True) -> None:
        self._require_open()
        led = self._devices["busy"]
        if on:
            led.blink(on_time=0.25, off_time=0.25)  # type: ignore[attr-defined]
        else:
            led.off()  # type: ignore[attr-defined]

    def open_gate(self, ms: int) -> None:
        self._require_open()
        ms = max(0, min(int(ms), self.cfg.max_gate_pulse_ms))
        with self._lock:
            if self._gate_timer:
                self._gate_timer.cancel()
            self._devices["relay"].on()  # type: ignore[attr-defined]
            self._gate_timer = threading.Timer(ms / 1000, self._close_gate)
            self._gate_timer.daemon = True
            self._gate_timer.start()

    def _close_gate(self) -> None:
        with self._lock:
            relay = self._devices.get("relay")
            if relay is not None:
                relay.off()  # type: ignore[attr-defined]

    def gate_open(self) -> bool:
        return bool(self._devices["relay"].value)  # type: ignore[attr-defined]

    def release(self) -> None:
        with self._lock:
            if self._gate_timer:
                self._gate_timer.cancel()
                self._gate_timer = None
        for name in ("relay", "green", "red", "busy", "buzzer"):
            dev = self._devices.get(name)
            if dev is not None:
                dev.off()  # type: ignore[attr-defined]

    def presence(self) -> bool | None:
        dev = self._devices.get("presence")
        return None if dev is None else bool(dev.value)  # type: ignore[attr-defined]

    def probe(self) -> str:
        self._require_open()
        led = self._devices["busy"]
        led.on()  # type: ignore[attr-defined]
        threading.Event().wait(0.2)
        led.off()  # type: ignore[attr-defined]
        pressed = self._devices["help"].is_pressed  # type: ignore[attr-defined]
        return f"busy LED blinked; help button {'pressed' if pressed else 'released'}"

    def _close_devices(self) -> None:
        for dev in self._devices.values():
            dev.close()  # type: ignore[attr-defined]
        self._devices = {}

    def close(self) -> None:
        if self._devices:
            self.release()
            self._close_devices()
        super().close()
