"""Pi backend costs: resampling CPU per second of audio, and the board timer thread's idle CPU.

Run: nice -n 10 .venv/bin/python bench/bench_pi.py   (figures go into docs/pi.md by hand)
"""

from __future__ import annotations

import json
import platform
import resource
import time

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.backends.pi.audio import Decimator, Interpolator
from edge.backends.pi.hardware import PiHardware
from edge.backends.pi.settings import PiConfig
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def resampling(rate: int, seconds: float = 20.0) -> float:
    """CPU seconds per second of full-duplex stereo audio (2 channels down, 2 channels up)."""
    factor = rate // 8000
    block = np.random.default_rng(1).integers(-8000, 8000, size=(480 * factor // 6, 2)).astype(np.float64)
    frame = block[:FRAME_SAMPLES, 0] / 4
    down = [Decimator(rate, factor), Decimator(rate, factor)]
    up = [Interpolator(rate, factor), Interpolator(rate, factor)]
    blocks = int(seconds * rate / len(block))
    frames = int(seconds * 50)
    start = cpu()
    for _ in range(blocks):
        for ch in (0, 1):
            down[ch].process(block[:, ch])
    for _ in range(frames):
        for ch in (0, 1):
            up[ch].process(frame)
    return (cpu() - start) / seconds


class Silence:
    """Stands in for the sound device: the bench measures the GPIO side only."""

    frames_captured = 0

    def read(self, timeout: float) -> AudioFrame | None:
        pcm: Pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return AudioFrame(pcm, pcm)

    def write(self, line: Pcm, phone: Pcm) -> None:
        pass


def board_idle(seconds: float = 10.0) -> float:
    """CPU fraction of one core used by the board's 5 ms timer thread with nothing happening."""
    hw = PiHardware(PiConfig(), pin_factory=MockFactory(pin_class=MockPWMPin), audio=Silence())
    hw.start(lambda event: None)
    time.sleep(0.5)
    start = cpu()
    time.sleep(seconds)
    used = cpu() - start
    hw.close()
    return used / seconds


if __name__ == "__main__":
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "resample_cpu_per_audio_s_48k": round(resampling(48000), 4),
        "resample_cpu_per_audio_s_16k": round(resampling(16000), 4),
        "board_timer_idle_cpu": round(board_idle(), 4),
    }
    print(json.dumps(result, indent=2))
