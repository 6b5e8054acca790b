"""Pi backend costs: the audio path's CPU per second of audio, and the board timer thread's idle CPU.

Run: nice -n 10 .venv/bin/python bench/bench_pi.py   (figures go into docs/pi.md by hand)
"""

from __future__ import annotations

import json
import platform
import resource
import time

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.backends.pi.audio import PiAudio
from edge.backends.pi.hardware import PiHardware
from edge.backends.pi.settings import PiConfig
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Status:
    input_overflow = False
    output_underflow = False


def audio_path(rate: int, seconds: float = 20.0) -> float:
    """CPU seconds per second of audio through PiAudio's real path (callback copy, resample, frame, write).

    The sound device is played by calling the stream callback directly with 10 ms stereo blocks; the
    appliance side reads every frame and writes one back, as the runtime does.
    """
    audio = PiAudio(PiConfig(codec_rate=rate, blocksize=rate // 100, queue_frames=50))
    block = np.random.default_rng(1).integers(-8000, 8000, size=(rate // 100, 2)).astype(np.int16)
    out = np.zeros_like(block)
    status = _Status()
    start = cpu()
    for _ in range(int(seconds * 50)):
        for _ in range(2):  # two 10 ms device blocks per 20 ms frame
            audio._callback(block, out, len(block), None, status)
        frame = audio.read(0.0)
        assert frame is not None
        audio.write(frame.line, frame.phone)
    used = (cpu() - start) / seconds
    assert audio.input_overflows == 0
    return used


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
        "audio_path_cpu_per_audio_s_48k": round(audio_path(48000), 4),
        "audio_path_cpu_per_audio_s_16k": round(audio_path(16000), 4),
        "board_timer_idle_cpu": round(board_idle(), 4),
    }
    print(json.dumps(result, indent=2))
