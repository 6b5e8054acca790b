"""How much of a stretch of audio is steady partials (music, tones) rather than speech's gliding harmonics.

A note from a piano, a marimba or a music box holds its partials at fixed frequencies while it sounds;
speech never does for long: its harmonics move with the voice's pitch and its formants with the mouth. The
measure is the share of the spectral peaks' energy that stays within ``tolerance_hz`` of its frequency for
``hold_s`` or longer. A keyword spotter trained on speech and noise can take a run of tuned notes for a
word (hold music's bells sounded like 몸매 to the shipped model); this is the cue that tells them apart.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal
from scipy.ndimage import minimum_filter1d

RATE = 8000
WINDOW = 512  # 64 ms: partials 16 Hz apart resolved
HOP = 80  # 10 ms
FFT = 2048  # 3.9 Hz bins
PEAK_RANGE_DB = 30.0
"""Peaks more than this far under the frame's strongest are not counted (the noise floor's)."""
PEAK_PROMINENCE_DB = 10.0
VALLEY_BINS = 12
"""How far (47 Hz) a peak's trough is looked for on each side: past a Hann main lobe (+-31 Hz at 64 ms)."""


def spectral_peaks(level: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Peaks of each column of a dB spectrogram: local maxima within PEAK_RANGE_DB of the column's highest that
    stand PEAK_PROMINENCE_DB over the higher of their two troughs within VALLEY_BINS (a partial, not a ripple)."""
    padded = np.pad(level, ((VALLEY_BINS, VALLEY_BINS), (0, 0)), mode="edge")
    bins = level.shape[0]
    # The lowest of the VALLEY_BINS bins just below each bin, and just above it (a sliding minimum, offset).
    lowest = minimum_filter1d(padded, size=VALLEY_BINS, axis=0, mode="nearest")
    half = VALLEY_BINS // 2
    left = lowest[VALLEY_BINS - half : VALLEY_BINS - half + bins]
    right = lowest[VALLEY_BINS + half + 1 : VALLEY_BINS + half + 1 + bins]
    below = padded[VALLEY_BINS - 1 : VALLEY_BINS - 1 + bins]
    above = padded[VALLEY_BINS + 1 : VALLEY_BINS + 1 + bins]
    peaks: npt.NDArray[np.bool_] = (
        (level > below)
        & (level >= above)
        & (level >= level.max(axis=0) - PEAK_RANGE_DB)
        & (level - np.maximum(left, right) >= PEAK_PROMINENCE_DB)
    )
    return peaks


def steady_share(
    pcm: npt.ArrayLike, tolerance_hz: float = 4.0, hold_s: float = 0.2, rate: int = RATE
) -> float:
    """Share (0-1) of the spectral peaks' energy in partials that hold their frequency for ``hold_s``.

    0 for silence or for audio too short to hold one partial that long.
    """
    x = np.asarray(pcm, dtype=np.float64)
    if x.size < WINDOW + HOP or not np.any(x):
        return 0.0
    _f, _t, spectrum = signal.stft(
        x,
        fs=rate,
        window="hann",
        nperseg=WINDOW,
        noverlap=WINDOW - HOP,
        nfft=FFT,
        boundary=None,
        padded=False,
    )
    power = np.abs(spectrum) ** 2 + 1e-12
    peaks = spectral_peaks(10.0 * np.log10(power))
    reach = max(1, int(tolerance_hz * FFT / rate))  # 4 Hz: the next bin, where a held note's peak may wander
    near = peaks.copy()  # a peak within the tolerance of each bin
    for shift in range(1, reach + 1):
        near[shift:] |= peaks[:-shift]
        near[:-shift] |= peaks[shift:]
    frames = near.shape[1]
    after = np.zeros(near.shape, dtype=np.int32)  # consecutive later frames with a peak near this bin
    before = np.zeros(near.shape, dtype=np.int32)
    for j in range(frames - 2, -1, -1):
        after[:, j] = np.where(near[:, j + 1], after[:, j + 1] + 1, 0)
    for j in range(1, frames):
        before[:, j] = np.where(near[:, j - 1], before[:, j - 1] + 1, 0)
    held = peaks & (after + before >= round(hold_s * rate / HOP))
    total = float(power[peaks].sum())
    return float(power[held].sum()) / total if total > 0 else 0.0
