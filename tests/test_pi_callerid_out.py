"""The desk phone gets the caller's number: the pi board asks in the first ring pause, the mixer sends FSK."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from test_pi_hardware import PINS, JournalFactory, ring_burst

from edge.app import WallClock, build_appliance
from edge.backends.pi.hardware import PiHardware
from edge.config import parse_config_text
from edge.core import events as e
from edge.dsp.callerid import CallerIdDecoder
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm

CONFIG = """
[device]
backend = "pi"
[calendar]
enabled = false
[recording]
notice = false
[pi]
debounce_ms = 10
ring_min_burst_s = 0.1
ring_gap_s = 0.25
phone_ring_on_s = 0.3
phone_ring_off_s = 1.5
watchdog_kick_min_s = 0.0
"""


class PhoneTap:
    """A codec stand-in: quiet input, and everything sent towards the desk phone kept."""

    def __init__(self) -> None:
        self.phone_out: list[Pcm] = []
        self.lock = threading.Lock()

    def read(self, timeout: float) -> AudioFrame | None:
        time.sleep(0.02)
        quiet: Pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return AudioFrame(line=quiet, phone=quiet)

    def write(self, line: Pcm, phone: Pcm) -> None:
        with self.lock:
            self.phone_out.append(phone.copy())


def test_caller_id_reaches_the_desk_phone_in_the_first_ring_pause(tmp_path: Path) -> None:
    config = parse_config_text(CONFIG)
    factory = JournalFactory()
    tap = PhoneTap()
    hardware = PiHardware.from_config(config, pin_factory=factory, audio=tap)
    app = build_appliance(config, tmp_path, hardware, WallClock(config.device.timezone), threaded=True)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            app.pump(tap.read(0.1))

    thread = threading.Thread(target=loop, daemon=True)
    try:
        app.start()
        thread.start()
        time.sleep(0.3)
        app.inject(e.CallerIdReceived("01055557777", "KIM"))
        ring_burst(factory, 0.3)
        time.sleep(0.4)
        ring_burst(factory, 0.3)
        deadline = time.monotonic() + 10
        decoder = CallerIdDecoder()
        found = []
        seen = 0
        while time.monotonic() < deadline and not found:
            time.sleep(0.1)
            with tap.lock:
                chunk = tap.phone_out[seen:]
                seen += len(chunk)
            for frame in chunk:
                found += decoder.feed(frame)
    finally:
        stop.set()
        thread.join(timeout=5)
        app.close()
    assert [(m.number, m.name, m.checksum_ok) for m in found] == [("01055557777", "KIM", True)]
    assert any(bcm == PINS["slic_rm"] for _, bcm, _ in factory.journal)
