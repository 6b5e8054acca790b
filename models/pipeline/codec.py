"""A held-out set as a mobile caller sends it: every clip and the stream re-coded by a mobile speech codec.

The sets are rendered with G.711 as the line's only codec. Most people who ring a community center do so
from a mobile phone: their voice crosses the radio leg in a speech codec (AMR-NB in 3G and narrow-band
VoLTE, GSM full rate in the oldest networks) and is transcoded to G.711 at the gateway to the fixed line.
``codec_set`` passes a finished set through sox's codecs (opencore-amr and libgsm, implementations this
project did not write or tune on), then through G.711 again, and removes the codec's delay so every
keyword still ends where the set says it does. The clips keep their index, so a set and its re-coded
copy compare clip by clip (``frozen.py``). One approximation, in order: the line's noise, clipping and
dropped frames were applied before the codec here, where a real call has them after it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import audio, build

RAW = ["-t", "raw", "-r", str(audio.LINE_RATE), "-e", "signed", "-b", "16", "-c", "1"]
"""sox's spelling of the sets' audio: headerless 16-bit mono at the line's 8 kHz."""
CODECS: dict[str, tuple[str, list[str]]] = {
    "amr-nb-12.2": ("amr-nb", ["-C", "7"]),
    "amr-nb-7.4": ("amr-nb", ["-C", "4"]),
    "amr-nb-4.75": ("amr-nb", ["-C", "0"]),
    "gsm-fr": ("gsm", []),
}
"""Codec name -> sox's file type and encoder options: AMR-NB's highest, middle and lowest modes, GSM 06.10."""
MAX_DELAY = 800
"""Longest codec delay looked for, in samples (100 ms; opencore's AMR-NB is a few ms)."""
STREAM_CHUNK = 600 * audio.LINE_RATE
"""A stream is re-coded in 10-minute calls: a long call for a codec, and memory stays small on 8 h."""
ALIGN_SAMPLES = 60 * audio.LINE_RATE
"""How much of the audio the delay is measured on: a minute is plenty and keeps a long stream cheap."""

Pcm = npt.NDArray[np.int16]


def _sox(args: list[str], data: bytes) -> bytes:
    """sox reading ``data`` from stdin and writing to stdout; a failure says what sox said."""
    done = subprocess.run(["sox", "-V1", *args], input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"sox {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def codec_delay(before: Pcm, after: Pcm) -> int:
    """The lag in samples (0..MAX_DELAY) at which ``after`` best matches ``before``."""
    a = before[:ALIGN_SAMPLES].astype(np.float64)
    b = after[: ALIGN_SAMPLES + MAX_DELAY].astype(np.float64)
    if not a.any() or not b.any():
        return 0
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xcorr = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)[: MAX_DELAY + 1]
    return int(np.argmax(xcorr))


def round_trip(pcm: Pcm, codec: str, rng: np.random.Generator) -> Pcm:
    """``pcm`` through ``codec`` and back, aligned to the input, then G.711 (mu-law or A-law) as the gateway
    transcodes it; the same length as the input."""
    if pcm.size == 0:
        return pcm.copy()
    kind, options = CODECS[codec]
    coded = _sox([*RAW, "-", "-t", kind, *options, "-"], pcm.astype("<i2").tobytes())
    decoded = np.frombuffer(_sox(["-t", kind, "-", *RAW, "-"], coded), "<i2")
    lag = codec_delay(pcm, decoded)
    out = np.zeros(pcm.size, np.float32)
    tail = decoded[lag : lag + pcm.size].astype(np.float32) / 32768.0
    out[: tail.size] = tail
    return audio.to_pcm(audio.g711(out, rng))


def codec_set(src: Path, dst: Path, codec: str, seed: int = 0) -> dict[str, int]:
    """Write ``dst``: the held-out set ``src`` with its keyword clips, near-misses and stream re-coded."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}: choose one of {', '.join(CODECS)}")
    rng = np.random.default_rng(seed)
    return build.transform_set(src, dst, lambda pcm: round_trip(pcm, codec, rng), STREAM_CHUNK)


def main() -> None:
    """Re-code held-out sets: ``python -m pipeline.codec --codec amr-nb-4.75 --sets work/test.npz --out work/amr475``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--codec", choices=sorted(CODECS), required=True, help="mobile codec to pass every clip through"
    )
    ap.add_argument("--sets", type=Path, nargs="+", required=True, help="held-out .npz files (build.py)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the re-coded sets (same file names)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the gateway's mu-law/A-law choice")
    args = ap.parse_args()
    for src in args.sets:
        counts = codec_set(src, args.out / src.name, args.codec, args.seed)
        print(f"{src} -> {args.out / src.name} ({args.codec}): {counts}", flush=True)


if __name__ == "__main__":
    main()
