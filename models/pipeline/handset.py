"""A held-out set as other telephones send it: every clip and the stream through a handset's frequency response.

The sets are rendered with a flat line between 300 and 3400 Hz. A real caller's voice first passes a
telephone's microphone and send path, and they are not flat: the reference handset of ITU-T P.48 (the IRS)
sends more of the upper band than of the lower, carbon and cheap electret capsules resonate somewhere
between 1 and 2.5 kHz, and cordless handsets, headsets and speakerphones often lose the top of the band.
The detector's front end removes only a window's mean level, so a handset's tilt or resonance reaches the
model as it is, and training never applied one (reverberation colours the spectrum only in fine detail).

``handset_set`` passes a finished set through one named response (a linear-phase FIR, its delay removed so
every keyword still ends where the set says), keeps each clip's loudness, and codes it with G.711 again as
the line does. The clips keep their index, so a set and its filtered copy compare clip by clip
(``frozen.py``). One approximation, in order, as for the codecs: the line's noise, clipping and dropped
frames were applied before the handset here, where a real call has them after it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import audio, build

TAPS = 129
"""FIR length at 8 kHz (16 ms): resolves a resonance half an octave wide at 1 kHz; its delay is 64 samples."""
REFERENCE_HZ = 1000.0
"""Responses are given relative to their gain here, as telephone responses are."""
STREAM_CHUNK = 600 * audio.LINE_RATE
"""A stream is filtered in 10-minute calls (each call starts from a quiet filter, as a new call does)."""

Pcm = npt.NDArray[np.int16]
Response = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
"""Gain in dB relative to ``REFERENCE_HZ`` at each frequency (Hz)."""


def tilt(db_per_octave: float, low: float = -9.0, high: float = 9.0) -> Response:
    """A straight tilt in dB per octave about 1 kHz, held within [low, high] dB at the band's ends."""
    return lambda f: np.clip(db_per_octave * np.log2(np.maximum(f, 1.0) / REFERENCE_HZ), low, high)


def resonance(gain_db: float, centre_hz: float, width_octaves: float) -> Response:
    """A smooth peak of ``gain_db`` at ``centre_hz``, Gaussian in octaves with standard deviation ``width``."""
    return lambda f: (
        gain_db * np.exp(-(np.log2(np.maximum(f, 1.0) / centre_hz) ** 2) / (2 * width_octaves**2))
    )


RESPONSES: dict[str, Response] = {
    "rise": tilt(3.0, -9.0, 6.0),
    "fall": tilt(-3.0, -6.0, 9.0),
    "peak": resonance(8.0, 1500.0, 0.35),
}
"""The check's handsets: a send response rising 3 dB per octave (-6 dB at 250 Hz, +5 dB at 3.2 kHz), one
falling as much (a muffled handset or speakerphone), and a capsule resonating 8 dB at 1.5 kHz."""


def fir(response: Response, taps: int = TAPS) -> npt.NDArray[np.float64]:
    """Linear-phase FIR at the line's 8 kHz with ``response``'s gains, normalised to 0 dB at 1 kHz."""
    freqs = np.linspace(0.0, audio.LINE_RATE / 2, 257)
    gains = response(freqs)
    taps_ = signal.firwin2(
        taps, freqs, 10 ** ((gains - response(np.array([REFERENCE_HZ]))[0]) / 20), fs=audio.LINE_RATE
    )
    return np.asarray(taps_, np.float64)


def through(pcm: Pcm, taps: npt.NDArray[np.float64], rng: np.random.Generator) -> Pcm:
    """``pcm`` through the handset ``taps`` at the same loudness (RMS), delay removed, then G.711 again."""
    if pcm.size == 0:
        return pcm.copy()
    x = pcm.astype(np.float64) / 32768.0
    delay = (taps.size - 1) // 2
    y = np.convolve(x, taps)[delay : delay + x.size]
    rms_in, rms_out = math.sqrt(float(np.mean(x**2))), math.sqrt(float(np.mean(y**2)))
    if rms_out > 0:
        y *= rms_in / rms_out
    return audio.to_pcm(audio.g711(y.astype(np.float32), rng))


def random_response(rng: np.random.Generator) -> Response:
    """One telephone drawn at random: a tilt of -4..+4 dB per octave and, half the time, a 3..10 dB
    resonance at 0.8..2.5 kHz (for training renders; the check uses the named ``RESPONSES``)."""
    slope = float(rng.uniform(-4.0, 4.0))
    base = tilt(slope)
    if rng.random() < 0.5:
        return base
    peak = resonance(
        float(rng.uniform(3.0, 10.0)),
        float(np.exp(rng.uniform(np.log(800.0), np.log(2500.0)))),
        float(rng.uniform(0.25, 0.5)),
    )
    return lambda f: base(f) + peak(f)


def handset_set(src: Path, dst: Path, name: str, seed: int = 0) -> dict[str, int]:
    """Write ``dst``: the held-out set ``src`` with its keyword clips, near-misses and stream through ``name``."""
    if name not in RESPONSES:
        raise ValueError(f"unknown handset response {name!r}: choose one of {', '.join(RESPONSES)}")
    rng = np.random.default_rng(seed)
    taps = fir(RESPONSES[name])
    return build.transform_set(src, dst, lambda pcm: through(pcm, taps, rng), STREAM_CHUNK)


def main() -> None:
    """Filter held-out sets: ``python -m pipeline.handset --response peak --sets work/test.npz --out work/handset/peak``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--response", choices=sorted(RESPONSES), required=True, help="the handset to send through"
    )
    ap.add_argument("--sets", type=Path, nargs="+", required=True, help="held-out .npz files (build.py)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the filtered sets (same file names)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the line's mu-law/A-law choice")
    args = ap.parse_args()
    for src in args.sets:
        counts = handset_set(src, args.out / src.name, args.response, args.seed)
        print(f"{src} -> {args.out / src.name} ({args.response}): {counts}", flush=True)


if __name__ == "__main__":
    main()
