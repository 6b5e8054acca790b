"""The shipped model stays silent on what a telephone line carries that is not speech.

A caller leg also carries call-progress tones (a far end that hung up, a congested network), a fax
machine's calling tone, a modem's answer tone, a call-waiting tone with its caller-ID data, DTMF keys, mains
hum and hiss. Each is written here from its standard's figures, not from the box's own generators, and
fed to the detector at a loud and a quiet line level: none may raise even a staff alert.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from edge.core.events import Tier
from edge.detect.cli import scan
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.dsp.generate import scale_to_dbm0

RATE = 8000
SECONDS = 12.0

Signal = npt.NDArray[np.float64]


def _t() -> Signal:
    return np.arange(int(SECONDS * RATE)) / RATE


def _tones(freqs: tuple[float, ...], on_s: float | None = None, off_s: float = 0.0) -> Signal:
    t = _t()
    x = np.sum([np.sin(2 * np.pi * f * t) for f in freqs], axis=0)
    return x if on_s is None else x * ((t % (on_s + off_s)) < on_s)


def _fsk(mark_hz: float, space_hz: float, baud: float, seed: int) -> Signal:
    """Random data, phase-continuous (Bell 202 is the caller-ID modem, V.21 a fax's control channel)."""
    n = int(SECONDS * RATE)
    per_bit = RATE / baud
    bits = np.random.default_rng(seed).integers(0, 2, int(n / per_bit) + 2)
    freq = np.where(bits[(np.arange(n) / per_bit).astype(int)] > 0, mark_hz, space_hz)
    return np.sin(2 * np.pi * np.cumsum(freq) / RATE)


def _dtmf(on_s: float, off_s: float) -> Signal:
    rows, cols = (697, 770, 852, 941), (1209, 1336, 1477)
    parts = []
    for key in range(12):
        t = np.arange(int(on_s * RATE)) / RATE
        row, col = rows[key // 3], cols[key % 3]
        parts += [np.sin(2 * np.pi * row * t) + np.sin(2 * np.pi * col * t), np.zeros(int(off_s * RATE))]
    return np.resize(np.concatenate(parts), int(SECONDS * RATE))


def _sit() -> Signal:
    """Special information tone (ITU-T Q.35): three rising segments, then the announcement's silence."""
    segment = [np.sin(2 * np.pi * f * np.arange(int(d * RATE)) / RATE) for f, d in SIT_SEGMENTS]
    return np.resize(np.concatenate([*segment, np.zeros(2 * RATE)]), int(SECONDS * RATE))


SIT_SEGMENTS = ((913.8, 0.274), (1370.6, 0.274), (1776.7, 0.380))

SIGNALS: dict[str, Callable[[], Signal]] = {
    # Korean call-progress tones (ITU-T E.180 supplement): dial, ringback, busy, congestion.
    "dial tone 350+440 Hz": lambda: _tones((350, 440)),
    "ringback 440+480 Hz 1 s on 2 s off": lambda: _tones((440, 480), 1.0, 2.0),
    "busy 480+620 Hz 0.5/0.5 s": lambda: _tones((480, 620), 0.5, 0.5),
    "congestion 480+620 Hz 0.25/0.25 s": lambda: _tones((480, 620), 0.25, 0.25),
    "special information tone": _sit,
    "call-waiting alert 2130+2750 Hz": lambda: _tones((2130, 2750), 0.08, 1.92),
    "caller-ID data, Bell 202": lambda: _fsk(1200, 2200, 1200, seed=1),
    "fax calling tone 1100 Hz 0.5/3 s": lambda: _tones((1100,), 0.5, 3.0),
    "answer tone 2100 Hz": lambda: _tones((2100,)),
    "answer tone 2100 Hz, 15 Hz AM": lambda: _tones((2100,)) * (1 + 0.2 * np.sin(2 * np.pi * 15 * _t())),
    "fax control, V.21": lambda: _fsk(1650, 1850, 300, seed=2),
    "DTMF keys 80/80 ms": lambda: _dtmf(0.08, 0.08),
    "DTMF keys 200/300 ms": lambda: _dtmf(0.2, 0.3),
    "mains hum 60 Hz and harmonics": lambda: np.sum(
        [np.sin(2 * np.pi * 60 * k * _t()) / k for k in range(1, 12)], axis=0
    ),
    "swept tone 300-3400 Hz": lambda: np.sin(2 * np.pi * np.cumsum(np.linspace(300, 3400, _t().size)) / RATE),
    "white noise": lambda: np.random.default_rng(3).standard_normal(_t().size),
}


@pytest.fixture(scope="module")
def detector() -> AbuseDetector:
    found, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert found is not None, error
    return found


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_a_line_signal_raises_no_alert_at_a_loud_or_a_quiet_level(detector: AbuseDetector, name: str) -> None:
    x = SIGNALS[name]()
    for level_dbm0 in (-10.0, -20.0):
        pcm = scale_to_dbm0(x / np.max(np.abs(x)) * 16000, level_dbm0)
        detector.inferences = 0
        heard = scan(detector, pcm, Tier.ALERT)
        assert heard == [], f"{name} at {level_dbm0} dBm0 raised {heard}"
        if level_dbm0 == -10.0:
            # The VAD passed it, so the model itself scored the signal: the silence is the model's.
            assert detector.inferences > 0, f"{name} never reached the model"
