"""Acceptance: the whole appliance (core machine, runtime, prompts, mixer) on the pi backend over mock pins.

A ring on DAA_RING → the box answers (DAA_OH) → rings the desk phone (SLIC RM + F/R) → staff lifts (SHK) →
a short press warns the caller → a long press plays the cut prompt and releases the line. The pin journal
must show every step, in order; the warning and cut prompts must reach the line leg of the codec stream.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_pi_hardware import PINS, JournalFactory, ring_burst

from edge.backends.pi.hardware import PiHardware
from edge.config import parse_config_text
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm

CONFIG = """
[device]
backend = "pi"
[calendar]
enabled = false
[call]
answer_on_ring = 2
[pi]
debounce_ms = 10
ring_min_burst_s = 0.1
ring_gap_s = 0.25
phone_ring_on_s = 0.2
phone_ring_off_s = 0.3
watchdog_kick_min_s = 0.0
long_press_s = 0.5
"""


class PacedAudio:
    """A codec stand-in paced at 4x real time: silence in, and everything written towards the line kept."""

    def __init__(self) -> None:
        self.frames_captured = 0
        self.line_out: list[Pcm] = []
        self._lock = threading.Lock()

    def read(self, timeout: float) -> AudioFrame | None:
        time.sleep(0.005)
        self.frames_captured += 1
        silence: Pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return AudioFrame(line=silence, phone=silence)

    def write(self, line: Pcm, phone: Pcm) -> None:
        with self._lock:
            self.line_out.append(line.copy())

    def line_energy_since(self, index: int) -> float:
        with self._lock:
            chunk = self.line_out[index:]
        return float(np.mean([np.abs(f.astype(np.float64)).mean() for f in chunk])) if chunk else 0.0


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_ring_answer_warning_cut_on_the_pi_backend(tmp_path: Path) -> None:
    pytest.importorskip("edge.runtime")
    from edge.app import WallClock, tone_factory
    from edge.runtime import Appliance

    config = parse_config_text(CONFIG)
    factory = JournalFactory()
    audio = PacedAudio()
    hardware = PiHardware.from_config(config, pin_factory=factory, audio=audio)
    app = Appliance(config, tmp_path, hardware, WallClock(config.device.timezone), tone_factory())
    stop = threading.Event()

    def audio_loop() -> None:
        while not stop.is_set():
            app.pump(audio.read(0.1))

    loop = threading.Thread(target=audio_loop, daemon=True)
    try:
        app.start()
        loop.start()
        _wait(lambda: factory.level("relay_en") == 1, 2, "the relay to pull in")

        # Two ring bursts; the box answers on the second.
        ring_burst(factory, 0.3)
        time.sleep(0.4)
        ring_burst(factory, 0.3)
        _wait(lambda: factory.level("daa_oh") == 0, 3, "the line to be seized")
        factory.pin(PINS["loop_detect"]).drive_low()  # loop current flows

        # The desk phone rings (after the recording notice); staff picks up.
        _wait(lambda: factory.level("slic_rm") == 1, 30, "the desk phone to ring")
        _wait(lambda: factory.pin(PINS["slic_fr"]).state == 0.5, 2, "F/R to toggle")
        factory.pin(PINS["slic_shk"]).drive_high()
        _wait(lambda: factory.level("slic_rm") == 0, 2, "ringing to stop")
        time.sleep(0.3)

        # Warning: short press; the warning prompt goes out on the line leg.
        before_warning = len(audio.line_out)
        button = factory.pin(PINS["button"])
        button.drive_low()
        time.sleep(0.1)
        button.drive_high()
        _wait(lambda: any(r.type == "warning" for r in app.timeline), 3, "the warning")
        time.sleep(0.5)
        assert audio.line_energy_since(before_warning) > 100  # the prompt is audible to the caller

        # Cut: long press; the cut prompt plays and the line is released.
        button.drive_low()
        _wait(lambda: any(r.type == "cut" for r in app.timeline), 3, "the cut")
        button.drive_high()
        _wait(lambda: factory.level("daa_oh") == 1, 30, "the line to be released")
    finally:
        stop.set()
        loop.join(timeout=5)
        app.close()

    # The pin story, in order.
    journal = factory.journal

    def first(name: str, level: float, after: float = 0.0) -> float:
        return next(t for t, bcm, v in journal if bcm == PINS[name] and v == level and t > after)

    engaged = first("relay_en", 1.0)
    seized = first("daa_oh", 0.0, engaged)
    ringing = first("slic_rm", 1.0, seized)
    lifted = first("slic_shk", 1.0, ringing)
    warn_press = first("button", 0.0, lifted)
    cut_press = first("button", 0.0, warn_press + 0.15)
    released = first("daa_oh", 1.0, cut_press)
    bypass = first("relay_en", 0.0, released)
    assert engaged < seized < ringing < lifted < warn_press < cut_press < released < bypass
    kinds = [r.type for r in app.timeline]
    assert kinds.index("warning") < kinds.index("cut")
    assert len([t for t, bcm, _ in journal if bcm == PINS["wdt_kick"]]) > 20  # kicked all along
