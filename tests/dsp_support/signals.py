"""Test signals made straight from their definitions (numpy sines, noise), independent of edge.dsp.generate."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FS = 8000
ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
_ZERO_DBM0_PEAK = 32768.0 * 10 ** (-3.14 / 20)


def amplitude(level_dbm0: float) -> float:
    """Peak of a sine at ``level_dbm0`` (full-scale sine = +3.14 dBm0)."""
    return _ZERO_DBM0_PEAK * 10 ** (level_dbm0 / 20)


def dtmf_pair(
    digit: str,
    ms: float,
    low_dbm0: float = -10.0,
    twist_db: float = 0.0,
    low_dev: float = 0.0,
    high_dev: float = 0.0,
) -> npt.NDArray[np.float64]:
    """One DTMF burst; ``twist_db`` is high-group level minus low-group level; ``*_dev`` relative offsets."""
    row = next(i for i, keys in enumerate(KEYS) if digit in keys)
    col = KEYS[row].index(digit)
    n = np.arange(round(FS * ms / 1000))
    low = amplitude(low_dbm0) * np.sin(2 * np.pi * ROWS[row] * (1 + low_dev) * n / FS + 0.3)
    high = amplitude(low_dbm0 + twist_db) * np.sin(2 * np.pi * COLS[col] * (1 + high_dev) * n / FS + 1.1)
    return low + high


def silence(ms: float) -> npt.NDArray[np.float64]:
    """Digital silence."""
    return np.zeros(round(FS * ms / 1000))


def add_noise(
    x: npt.ArrayLike, snr_db: float, rng: np.random.Generator, ref_power: float | None = None
) -> npt.NDArray[np.float64]:
    """White Gaussian noise at ``snr_db`` below the power of ``x`` (or of ``ref_power``), over the whole band."""
    signal = np.asarray(x, dtype=np.float64)
    power = ref_power if ref_power is not None else float(np.mean(signal[signal != 0] ** 2))
    return signal + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), signal.size)


def resample_offset(x: npt.ArrayLike, percent: int) -> npt.NDArray[np.float64]:
    """Play ``x`` with every frequency (and the baud rate) shifted by ``percent`` % (a sender's clock error)."""
    from scipy.signal import resample_poly

    signal = np.asarray(x, dtype=np.float64)
    return np.asarray(resample_poly(signal, 100, 100 + percent), dtype=np.float64)


def echo_path(late: int = 160 + 37, hybrid: int = 11) -> npt.NDArray[np.float64]:
    """A line's echo path as an impulse response: ``late`` samples of the box's buffering, then 6 ms of a
    mismatched hybrid's ringing (its shape drawn from seed ``hybrid``), unscaled."""
    rng = np.random.default_rng(hybrid)
    ringing = rng.normal(0.0, 1.0, 48) * np.exp(-np.arange(48) / 6.0)
    ringing[0] += 1.5
    return np.concatenate([np.zeros(late), ringing])
