"""espeak-ng speech re-voiced through the WORLD vocoder: the same words and timing in a voice espeak cannot make.

Every clip the model has heard comes from espeak-ng's formant synthesiser. Real callers and other
synthesisers differ from it in the melody (espeak's intonation is rule-made and flat), the vocal tract
(formant positions), the spectral tilt and the breathiness of the source. ``revoice`` analyses an espeak
render with WORLD (pyworld: DIO + StoneMask pitch, CheapTrick envelope, D4C aperiodicity) and
resynthesises it with a new melody, a warped and tilted envelope and a breathier source. The timing is
kept frame for frame, so a keyword ends where it ended. Used to measure how much of the model's recall
rests on espeak's own sound (``build.py --revoiced``); a candidate for training data once that is known.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pipeline.audio import ESPEAK_RATE, Audio

FRAME_MS = 5.0
"""WORLD's analysis hop; 200 frames per second."""
WARP = (0.88, 1.14)
"""Vocal-tract scaling of the envelope's frequency axis (below 1: a longer tract, lower formants)."""


def _smooth_noise(rng: np.random.Generator, n: int, cutoff_hz: float) -> np.ndarray:
    """Unit-variance noise low-passed at ``cutoff_hz`` on the 200 Hz frame clock: slow pitch movement."""
    if n < 16:
        return np.zeros(n)
    sos = signal.butter(2, cutoff_hz, fs=1000.0 / FRAME_MS, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal(n + 64))[32 : 32 + n]
    return np.asarray(x / (x.std() + 1e-9))


def new_melody(f0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new pitch track on espeak's voiced frames: register, range, declination, accents and jitter."""
    voiced = f0 > 0
    if not voiced.any():
        return f0
    n = f0.size
    centre = float(np.median(f0[voiced]))
    semitones = np.zeros(n)
    semitones[voiced] = 12.0 * np.log2(f0[voiced] / centre) * rng.uniform(0.4, 2.0)  # narrower or livelier
    semitones += rng.uniform(-5.0, 5.0)  # register
    semitones -= rng.uniform(0.0, 5.0) * np.linspace(0.0, 1.0, n)  # declination over the utterance
    semitones += rng.uniform(0.5, 3.0) * _smooth_noise(rng, n, rng.uniform(1.5, 4.0))  # accents
    semitones += rng.normal(0.0, rng.uniform(0.03, 0.3), n)  # jitter
    out = np.where(voiced, centre * 2.0 ** (semitones / 12.0), 0.0)
    return np.clip(out, 0.0, 600.0)


def new_envelope(sp: np.ndarray, rng: np.random.Generator, rate: int) -> np.ndarray:
    """The power envelope with its frequency axis scaled (another tract length) and a new spectral tilt."""
    bins = sp.shape[1]
    alpha = rng.uniform(*WARP)
    src = np.clip(np.arange(bins) / alpha, 0.0, bins - 1.0)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    warped = sp[:, lo] * (1.0 - frac) + sp[:, hi] * frac
    freqs = np.maximum(np.arange(bins) * (rate / 2) / (bins - 1), 100.0)
    tilt_db_per_octave = rng.uniform(-3.0, 2.0)
    return np.asarray(warped * 10.0 ** (tilt_db_per_octave * np.log2(freqs / 500.0) / 10.0))


def new_source(ap: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """More aperiodic energy, rising with frequency: from espeak's clean buzz towards a breathy voice."""
    ramp = np.linspace(0.0, 1.0, ap.shape[1]) ** 0.5
    return np.clip(ap + (1.0 - ap) * rng.uniform(0.0, 0.4) * ramp, 0.0, 1.0)


def revoice(x: Audio, rng: np.random.Generator, rate: int = ESPEAK_RATE) -> Audio:
    """``x`` (float32 at ``rate``) resynthesised by WORLD with a new melody, tract, tilt and breathiness.

    Same length and peak level as ``x``; silence stays silent.
    """
    import pyworld

    x64 = np.ascontiguousarray(x, dtype=np.float64)
    peak = float(np.abs(x64).max())
    if x64.size < rate // 20 or peak < 1e-4:
        return x
    f0, times = pyworld.dio(x64, rate, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x64, f0, times, rate)
    sp = pyworld.cheaptrick(x64, f0, times, rate)
    ap = pyworld.d4c(x64, f0, times, rate)
    y = pyworld.synthesize(
        new_melody(f0, rng),
        np.ascontiguousarray(new_envelope(sp, rng, rate)),
        np.ascontiguousarray(new_source(ap, rng)),
        rate,
        FRAME_MS,
    )
    y = y[: x64.size] if y.size >= x64.size else np.pad(y, (0, x64.size - y.size))
    return (y / (np.abs(y).max() + 1e-9) * peak).astype(np.float32)
