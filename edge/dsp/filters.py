"""Small linear-phase FIR filters (windowed sinc, Hamming) and a streaming wrapper, numpy only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def high_pass(sample_rate: int, cutoff_hz: float, taps: int) -> npt.NDArray[np.float64]:
    """FIR high-pass by spectral inversion of a unity-DC-gain low-pass; ``taps`` must be odd."""
    if taps % 2 == 0:
        raise ValueError("a linear-phase high-pass needs an odd number of taps")
    n = np.arange(taps) - (taps - 1) / 2
    low = 2 * cutoff_hz / sample_rate * np.sinc(2 * cutoff_hz / sample_rate * n) * np.hamming(taps)
    low /= low.sum()
    high = -low
    high[(taps - 1) // 2] += 1.0
    return np.asarray(high, dtype=np.float64)


def band_pass(sample_rate: int, low_hz: float, high_hz: float, taps: int) -> npt.NDArray[np.float64]:
    """FIR band-pass, unity gain at the centre of the band."""
    n = np.arange(taps) - (taps - 1) / 2
    lo, hi = low_hz / sample_rate, high_hz / sample_rate
    kernel = (2 * hi * np.sinc(2 * hi * n) - 2 * lo * np.sinc(2 * lo * n)) * np.hamming(taps)
    centre = (low_hz + high_hz) / 2
    gain = abs(np.sum(kernel * np.exp(-2j * np.pi * centre / sample_rate * np.arange(taps))))
    return np.asarray(kernel / gain, dtype=np.float64)


class StreamingFir:
    """Applies an FIR to a stream fed in pieces of any length; output lags input by ``delay`` samples."""

    def __init__(self, kernel: npt.NDArray[np.float64]) -> None:
        self.kernel = kernel
        self.delay = (kernel.size - 1) // 2
        self._tail = np.zeros(kernel.size - 1)

    def __call__(self, samples: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The filtered samples, one out for each one in."""
        joined = np.concatenate((self._tail, samples))
        self._tail = joined[joined.size - (self.kernel.size - 1) :]
        return np.asarray(np.convolve(joined, self.kernel, mode="valid"), dtype=np.float64)
