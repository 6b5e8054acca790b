"""The SLIC's F/R square wave: hardware PWM through sysfs, or the pin factory's PWM through gpiozero."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Protocol


class RingPwm(Protocol):
    """A 50 % square wave on F/R at the ring frequency, on or off."""

    def set_ringing(self, on: bool) -> None:
        """Start (True) or stop the square wave; stopped leaves F/R low (forward polarity)."""

    def close(self) -> None:
        """Stop and release the output."""


class GpiozeroRingPwm:
    """F/R through a gpiozero PWMOutputDevice (pigpio times it in hardware; MockPWMPin in tests)."""

    def __init__(self, pin: int, hz: float, active_high: bool, pin_factory: Any) -> None:
        from gpiozero import PWMOutputDevice

        self._device = PWMOutputDevice(
            pin, active_high=active_high, initial_value=0, frequency=hz, pin_factory=pin_factory
        )

    def set_ringing(self, on: bool) -> None:
        """Square wave on or off."""
        self._device.value = 0.5 if on else 0.0

    def close(self) -> None:
        """Stop and release the pin."""
        self._device.value = 0.0
        self._device.close()


class SysfsRingPwm:
    """F/R on the SoC's hardware PWM via /sys/class/pwm (``dtoverlay=pwm,pin=12,func=4``)."""

    def __init__(self, chip: Path, channel: int, hz: float) -> None:
        self._chip = chip
        self._dir = chip / f"pwm{channel}"
        if not self._dir.exists():
            (chip / "export").write_text(f"{channel}\n")
            # udev needs a moment to hand the new files to the gpio group.
            for _ in range(50):
                if (self._dir / "period").exists():
                    break
                time.sleep(0.01)
        self._channel = channel
        period_ns = round(1e9 / hz)
        self._write("enable", "0")
        self._write("duty_cycle", "0")
        self._write("period", str(period_ns))
        self._duty = str(period_ns // 2)

    def _write(self, name: str, value: str) -> None:
        (self._dir / name).write_text(value + "\n")

    def set_ringing(self, on: bool) -> None:
        """Square wave on or off (off: duty 0, then disabled, so the pin rests low)."""
        if on:
            self._write("duty_cycle", self._duty)
            self._write("enable", "1")
        else:
            self._write("duty_cycle", "0")
            self._write("enable", "0")

    def close(self) -> None:
        """Stop and unexport the channel."""
        self.set_ringing(False)
        with contextlib.suppress(OSError):
            (self._chip / "unexport").write_text(f"{self._channel}\n")
