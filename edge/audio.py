"""Audio files and speech synthesis at the appliance's 8 kHz: read any WAV, resample, espeak-ng."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile

from edge.ports import SAMPLE_RATE, Pcm


class AudioFileError(Exception):
    """A file could not be read as audio."""


USABLE_RATES = range(4000, 384_001)
"""Sample rates a file may have: a hostile header saying 1 Hz would otherwise resample into gigabytes."""


def _usable(rate: int, what: str) -> int:
    if rate not in USABLE_RATES:
        raise AudioFileError(
            f"{what} has a sample rate of {rate} Hz; only {USABLE_RATES.start}-{USABLE_RATES.stop - 1} Hz is read"
        )
    return rate


def to_int16(samples: np.ndarray) -> Pcm:
    """Float samples in [-1, 1] (or wider, clipped) to 16-bit PCM."""
    return np.asarray(np.clip(np.round(samples * 32767.0), -32768, 32767), dtype=np.int16)


def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a float signal between any two integer rates."""
    if rate_in == rate_out:
        return np.asarray(samples, dtype=np.float64)
    from scipy.signal import resample_poly  # heavy to import; only files at other rates need it

    ratio = Fraction(rate_out, rate_in)
    return np.asarray(resample_poly(samples, ratio.numerator, ratio.denominator), dtype=np.float64)


def read_wav(path: Path, rate: int = SAMPLE_RATE) -> Pcm:
    """A mono 16-bit PCM signal at ``rate`` from any audio file libsndfile reads (first channel)."""
    try:
        data, file_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"{path} is not a readable audio file ({exc})") from None
    if data.shape[0] == 0:
        return np.zeros(0, dtype=np.int16)
    return to_int16(resample(data[:, 0], _usable(int(file_rate), str(path)), rate))


def read_wav_bytes(data: bytes, rate: int = SAMPLE_RATE) -> Pcm:
    """Like ``read_wav`` for audio held in memory."""
    try:
        samples, file_rate = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"not readable audio ({exc})") from None
    return to_int16(resample(samples[:, 0], _usable(int(file_rate), "not readable audio: it"), rate))


def write_wav(path: Path, pcm: Pcm, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM as a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), pcm, rate, subtype="PCM_16")


class SynthesisError(Exception):
    """espeak-ng is missing or failed."""


def synthesize(
    text: str,
    voice: str = "ko",
    speed: int = 160,
    pitch: int = 50,
    word_gap: int = 0,
    cache_dir: Path | None = None,
) -> Pcm:
    """Speak ``text`` with espeak-ng and return it at 8 kHz; cached by content when ``cache_dir`` is set."""
    key = hashlib.sha256(f"{voice}|{speed}|{pitch}|{word_gap}|{text}".encode()).hexdigest()[:24]
    cached = cache_dir / f"{key}.wav" if cache_dir else None
    if cached is not None and cached.exists():
        return read_wav(cached)
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthesisError("espeak-ng is not installed (apt-get install espeak-ng)")
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(word_gap), "--stdout", text]
    try:
        result = subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SynthesisError(f"espeak-ng failed on {text[:40]!r}: {exc}") from None
    pcm = read_wav_bytes(result.stdout)
    if cached is not None:
        write_wav(cached, pcm)
    return pcm
