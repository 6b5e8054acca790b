"""The pi backend's sounddevice path through a real ALSA ``file`` PCM: channel mapping, 8 kHz frames, xruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.backends.pi.audio import Decimator, Interpolator

# The child opens PortAudio with an ~/.asoundrc that defines pcm.lgtest: `file` PCMs whose capture comes
# from a FIFO the child writes in real time (so the stream is paced like a codec) and whose playback lands
# in a raw file. PortAudio reads the ALSA config once, at import, hence a separate process.
CHILD = r"""
import json, os, sys, threading, time
import numpy as np
rate, tone_s = 48000, 4.0
t = np.arange(int(rate * tone_s)) / rate
capture = np.stack([8000 * np.sin(2 * np.pi * 400 * t), 8000 * np.sin(2 * np.pi * 1000 * t)], 1).astype(np.int16)
fifo = sys.argv[1]

def feed():
    while True:
        try:
            with open(fifo, "wb", buffering=0) as f:
                for k in range(0, len(capture), 960):
                    f.write(capture[k:k + 960].tobytes())
                    time.sleep(0.02)
        except BrokenPipeError:
            continue  # PortAudio probes the device (open, close) before the real stream opens it
        return

threading.Thread(target=feed, daemon=True).start()
from edge.backends.pi.audio import PiAudio
from edge.backends.pi.settings import PiConfig
from edge.ports import FRAME_SAMPLES

audio = PiAudio(PiConfig(audio_device="lgtest", codec_rate=48000, blocksize=480, queue_frames=10))
audio.open()
n = np.arange(FRAME_SAMPLES)
frames = []
for k in range(60):
    frame = audio.read(1.0)
    assert frame is not None, "no frame within 1 s"
    frames.append(frame)
    phase = (k * FRAME_SAMPLES + n) / 8000
    audio.write((8000 * np.sin(2 * np.pi * 1500 * phase)).astype(np.int16),
                (8000 * np.sin(2 * np.pi * 2500 * phase)).astype(np.int16))
overflows_before = audio.input_overflows
time.sleep(0.6)  # the appliance stalls for 0.6 s: the 10-frame queue overflows, the device does not stop
late = [audio.read(1.0) for _ in range(10)]
audio.close()
json.dump({
    "line": np.concatenate([f.line for f in frames]).tolist(),
    "phone": np.concatenate([f.phone for f in frames]).tolist(),
    "shapes": sorted({(f.line.shape[0], str(f.line.dtype)) for f in frames}),
    "late_ok": all(f is not None for f in late),
    "overflows_before": overflows_before,
    "stats": audio.stats(),
}, sys.stdout)
"""


STALL_CHILD = r"""
import json, sys, threading, time
import numpy as np
t = np.arange(48000 * 4) / 48000
capture = np.stack([8000 * np.sin(2 * np.pi * 400 * t)] * 2, 1).astype(np.int16)
paused = threading.Event()

def feed():
    k = 0
    while True:
        try:
            with open(sys.argv[1], "wb", buffering=0) as f:
                while True:
                    if not paused.is_set():
                        f.write(capture[k % len(capture):k % len(capture) + 960].tobytes())
                        k += 960
                    time.sleep(0.02)
        except BrokenPipeError:
            continue

threading.Thread(target=feed, daemon=True).start()
from edge.backends.pi.audio import PiAudio
from edge.backends.pi.settings import PiConfig

audio = PiAudio(PiConfig(audio_device="lgtest", stall_restart_s=0.5))
audio.open()
before = sum(audio.read(1.0) is not None for _ in range(10))
paused.set()  # the codec stops delivering (a wedged driver): the callback blocks
start = time.monotonic()
during = [audio.read(0.2) for _ in range(8)]
during_s = time.monotonic() - start
paused.clear()
after = sum(audio.read(1.0) is not None for _ in range(25))
audio.close()
json.dump({"before": before, "during": sum(f is not None for f in during), "during_s": during_s,
           "after": after, "stats": audio.stats()}, sys.stdout)
"""


def _run_child(home: Path, code: str) -> dict[str, object]:
    fifo, played = home / "capture.fifo", home / "played.raw"
    os.mkfifo(fifo)
    # `asym` keeps the two directions apart: a `file` PCM also logs what it captures into its `file`.
    (home / ".asoundrc").write_text(
        'pcm.lgtest { type asym playback.pcm "lgplay" capture.pcm "lgcap" }\n'
        f'pcm.lgplay {{ type file slave.pcm "null" file "{played}" format "raw" }}\n'
        f'pcm.lgcap {{ type file slave.pcm "null" file "/dev/null" infile "{fifo}" format "raw" }}\n'
    )
    env = {**os.environ, "HOME": str(home)}
    env.pop("ALSA_CONFIG_PATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


@pytest.fixture(scope="module")
def alsa_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    home = tmp_path_factory.mktemp("alsa")
    return _run_child(home, CHILD), home / "played.raw"


def test_capture_is_8k_frames_left_line_right_phone(alsa_run: tuple[dict[str, object], Path]) -> None:
    result, _ = alsa_run
    assert result["shapes"] == [[160, "int16"]]
    line = np.array(result["line"])[1600:]  # skip the resampler's start-up
    phone = np.array(result["phone"])[1600:]
    assert _peak_hz(line, 8000) == pytest.approx(400, abs=10)
    assert _peak_hz(phone, 8000) == pytest.approx(1000, abs=10)
    # Pass-band gain ~1: an 8000-peak sine has an RMS of ~5657.
    assert _rms(line) == pytest.approx(5657, rel=0.05)
    assert _rms(phone) == pytest.approx(5657, rel=0.05)


def _silent_runs(x: np.ndarray, at_least: int = 8) -> int:
    """How many stretches of at least ``at_least`` zero samples ``x`` holds."""
    zero = np.concatenate([[0], (x == 0).astype(int), [0]])
    edges = np.flatnonzero(np.diff(zero))
    return int(np.sum(edges[1::2] - edges[::2] >= at_least))


def test_playback_reaches_the_device_at_the_codec_rate(alsa_run: tuple[dict[str, object], Path]) -> None:
    result, played = alsa_run
    out = np.fromfile(played, dtype=np.int16).reshape(-1, 2)
    assert len(out) >= 48000  # more than a second of 48 kHz stereo was written
    start = int(np.argmax(np.abs(out[:, 0]) > 0))
    # Once playback started, every stretch of silence is an underrun the counters know about (on a loaded
    # machine the writer can be late; a gap must never be silent in the statistics). The last one is the
    # reader's deliberate 0.6 s stall.
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert 1 <= _silent_runs(out[start:, 0]) <= stats["output_underflows"]
    segment = out[start + 4800 : start + 4800 + 24000]  # 0.5 s of the tones
    assert _peak_hz(segment[:, 0], 48000) == pytest.approx(1500, abs=10)
    assert _peak_hz(segment[:, 1], 48000) == pytest.approx(2500, abs=10)
    assert _rms(segment[:, 0]) == pytest.approx(5657, rel=0.05)
    assert _rms(segment[:, 1]) == pytest.approx(5657, rel=0.05)


def test_a_stalled_reader_counts_overflows_and_the_stream_goes_on(
    alsa_run: tuple[dict[str, object], Path],
) -> None:
    result, _ = alsa_run
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert stats["input_overflows"] > result["overflows_before"]
    assert result["late_ok"] is True
    assert stats["restarts"] == 0
    assert stats["frames_captured"] == 70


def test_resamplers_round_trip_a_tone_with_unity_gain() -> None:
    rate = 48000
    t = np.arange(8000) / 8000
    tone = 10000 * np.sin(2 * np.pi * 1000 * t)
    up, down = Interpolator(rate, 6), Decimator(rate, 6)
    # Blocks of awkward sizes exercise the filter state carried between calls.
    out = np.concatenate([down.process(up.process(tone[k : k + 77])) for k in range(0, len(tone), 77)])
    assert len(out) == len(tone)
    steady = out[400:]
    assert _rms(steady) == pytest.approx(_rms(tone[400:]), rel=0.01)
    assert _peak_hz(steady, 8000) == pytest.approx(1000, abs=5)


def test_decimator_removes_what_would_alias() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    above_band = 10000 * np.sin(2 * np.pi * 5000 * t)  # would fold to 3 kHz at 8 kHz
    out = Decimator(rate, 6).process(above_band)
    assert _rms(out[200:]) < 10000 * 0.707 * 0.01  # at least 40 dB down


def test_a_wedged_stream_is_reopened_without_blocking_the_reader(tmp_path: Path) -> None:
    result = _run_child(tmp_path, STALL_CHILD)
    assert result["before"] == 10
    assert result["during"] == 0
    assert result["during_s"] < 2.5  # each read returned after its timeout: the audio loop kept running
    assert result["after"] == 25  # frames flow again once the device does
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert stats["restarts"] == 1 and "stalled" in stats["last_error"]


def _reference(x: np.ndarray, h: np.ndarray, up: int, down: int) -> np.ndarray:
    """Zero-stuff, filter causally from rest, keep every ``down``-th: the textbook definition."""
    stuffed = np.zeros(len(x) * up)
    stuffed[::up] = x
    return np.convolve(stuffed, h)[: len(stuffed)][::down]


@pytest.mark.parametrize("factor", [2, 6])
def test_polyphase_resamplers_equal_the_textbook_filter(factor: int) -> None:
    from edge.backends.pi.audio import lowpass

    rng = np.random.default_rng(7)
    x = rng.normal(0, 3000, 4000 * factor)
    h = lowpass(8000 * factor, factor)
    down = Decimator(8000 * factor, factor)
    sizes = rng.integers(1, 700, 200)
    pieces, at = [], 0
    for size in sizes:
        pieces.append(down.process(x[at : at + size]))
        at += size
    pieces.append(down.process(x[at:]))
    np.testing.assert_allclose(np.concatenate(pieces), _reference(x, h, 1, factor), atol=1e-6)

    y = rng.normal(0, 3000, 3000)
    up = Interpolator(8000 * factor, factor)
    pieces, at = [], 0
    for size in rng.integers(1, 200, 30):
        pieces.append(up.process(y[at : at + size]))
        at += size
    pieces.append(up.process(y[at:]))
    np.testing.assert_allclose(np.concatenate(pieces), _reference(y, h * factor, factor, 1), atol=1e-6)


def test_stereo_resampling_equals_two_mono_channels() -> None:
    rng = np.random.default_rng(3)
    stereo = rng.normal(0, 3000, (4800, 2))
    both, left, right = Decimator(48000, 6), Decimator(48000, 6), Decimator(48000, 6)
    out = np.concatenate([both.process(stereo[k : k + 960]) for k in range(0, 4800, 960)])
    np.testing.assert_allclose(
        out[:, 0], np.concatenate([left.process(stereo[k : k + 960, 0]) for k in range(0, 4800, 960)])
    )
    np.testing.assert_allclose(
        out[:, 1], np.concatenate([right.process(stereo[k : k + 960, 1]) for k in range(0, 4800, 960)])
    )
    up2, up_l = Interpolator(48000, 6), Interpolator(48000, 6)
    frames = rng.normal(0, 3000, (800, 2))
    wide = np.concatenate([up2.process(frames[k : k + 160]) for k in range(0, 800, 160)])
    assert wide.shape == (4800, 2)
    np.testing.assert_allclose(
        wide[:, 0], np.concatenate([up_l.process(frames[k : k + 160, 0]) for k in range(0, 800, 160)])
    )
