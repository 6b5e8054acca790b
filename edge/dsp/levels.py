"""Signal levels in dBm0, the unit line standards use.

Convention (ITU-T G.711 / G.168, the same as spandsp): a sine wave whose peak is digital full scale
(32768 in 16-bit PCM) is +3.14 dBm0 on a µ-law line, so 0 dBm0 is a sine of RMS 32768/√2 · 10^(-3.14/20)
≈ 16 135 (peak ≈ 22 818). Levels are mean power over the whole array, so a tone's level is the level of
each of its samples' average, and a two-tone signal's level is the sum of its tones' powers.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FULL_SCALE_SINE_DBM0 = 3.14
"""Level of a full-scale sine on a µ-law line (A-law is 3.14 too, to the precision that matters here)."""

_FULL_SCALE_SINE_POWER = (32768.0**2) / 2.0
SILENCE_DBM0 = -120.0
"""What ``dbm0`` reports for digital silence, instead of minus infinity."""


def power_to_dbm0(mean_square: float) -> float:
    """Level in dBm0 of a mean-square value in 16-bit PCM units."""
    if mean_square <= 0.0:
        return SILENCE_DBM0
    return float(
        max(SILENCE_DBM0, 10.0 * math.log10(mean_square / _FULL_SCALE_SINE_POWER) + FULL_SCALE_SINE_DBM0)
    )


def dbm0_to_power(level_dbm0: float) -> float:
    """Mean-square value in 16-bit PCM units of a signal at ``level_dbm0``."""
    return float(_FULL_SCALE_SINE_POWER * 10.0 ** ((level_dbm0 - FULL_SCALE_SINE_DBM0) / 10.0))


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak amplitude in 16-bit PCM units of one sine at ``level_dbm0``."""
    return math.sqrt(2.0 * dbm0_to_power(level_dbm0))


def to_pcm(samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
    """``samples`` on the 16-bit scale rounded (half to even) and clipped to 16-bit PCM."""
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def dbm0(pcm: npt.ArrayLike) -> float:
    """Mean level of ``pcm`` (16-bit linear samples) in dBm0; digital silence is -120."""
    samples = np.asarray(pcm, dtype=np.float64)
    if samples.size == 0:
        return SILENCE_DBM0
    return power_to_dbm0(float(np.mean(samples * samples)))
