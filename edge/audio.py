"""Audio files and speech synthesis at the appliance's 8 kHz: read any WAV, resample, espeak-ng."""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile

from edge.dsp.levels import to_pcm
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
    return to_pcm(samples * 32767.0)


def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a float signal between any two integer rates."""
    if rate_in == rate_out:
        return np.asarray(samples, dtype=np.float64)
    from scipy.signal import resample_poly  # heavy to import; only files at other rates need it

    ratio = Fraction(rate_out, rate_in)
    return np.asarray(resample_poly(samples, ratio.numerator, ratio.denominator), dtype=np.float64)


def resample_blocks(
    blocks: Iterable[np.ndarray], rate_in: int, rate_out: int = SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """``resample`` of a signal handed over in blocks, in bounded memory, with the same output as the whole.

    Each span is filtered with a margin of real samples on both sides (zeros at the two ends, as
    ``resample_poly`` pads the whole signal), so the seams are exact; spans are whole periods of the
    rate ratio, so every output sample keeps its phase.
    """
    if rate_in == rate_out:
        for block in blocks:
            yield np.asarray(block, dtype=np.float64)
        return
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out, rate_in)
    up, down = ratio.numerator, ratio.denominator
    # resample_poly's filter reaches 10 * max(up, down) taps either side at the upsampled rate.
    margin = down * math.ceil((10 * max(up, down) / up + 2) / down)
    span = max(margin, down * math.ceil(rate_in * 5 / down))  # about 5 s per filtering pass
    before = np.zeros(margin)
    pending = np.zeros(0)
    total = 0
    emitted = 0
    for block in blocks:
        pending = np.concatenate((pending, np.asarray(block, dtype=np.float64)))
        total += len(block)
        while pending.size >= span + margin:
            out = resample_poly(np.concatenate((before, pending[: span + margin])), up, down)
            start = margin * up // down
            yield np.asarray(out[start : start + span * up // down], dtype=np.float64)
            emitted += span * up // down
            before = pending[span - margin : span]
            pending = pending[span:]
    wanted = -(-total * up // down) - emitted
    if wanted > 0:
        out = resample_poly(np.concatenate((before, pending, np.zeros(margin))), up, down)
        start = margin * up // down
        yield np.asarray(out[start : start + wanted], dtype=np.float64)


def recording_blocks(path: Path, channel: int | None = None, block_s: float = 5.0) -> Iterator[Pcm]:
    """One channel of any audio file libsndfile reads, as 16-bit PCM at 8 kHz in blocks of about ``block_s``.

    The file is checked before the first block (unreadable, a rate outside 4-384 kHz, several channels
    and no ``channel`` chosen: ``AudioFileError`` in one sentence the user can act on), and it is read
    and resampled block by block, so an hour-long recording costs seconds of memory, not the hour.
    ``channel`` counts from 1.
    """
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioFileError(
            f"{path} is not an audio file this tool can read ({exc}); give a mono WAV file."
        ) from None
    rate = int(info.samplerate)
    if rate not in USABLE_RATES:
        raise AudioFileError(
            f"{path} has a sample rate of {rate} Hz; give a recording at 4-384 kHz (8 kHz is best)."
        )
    if channel is None:
        if info.channels != 1:
            raise AudioFileError(
                f"{path} has {info.channels} channels; pick one with --channel N (1 = first), e.g. --channel 1."
            )
        chosen = 0
    elif 1 <= channel <= info.channels:
        chosen = channel - 1
    else:
        raise AudioFileError(f"--channel {channel} is out of range: {path} has {info.channels} channel(s).")
    return _decoded(path, rate, chosen, max(1, int(rate * block_s)))


def _decoded(path: Path, rate: int, channel: int, frames: int) -> Iterator[Pcm]:
    def samples() -> Iterator[np.ndarray]:
        try:
            for block in soundfile.blocks(str(path), blocksize=frames, dtype="float64", always_2d=True):
                # Scaled by 2**15, a 16-bit file comes back sample for sample.
                yield block[:, channel] * 32768.0
        except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise AudioFileError(f"{path} could not be read to the end ({exc}).") from None

    for block in resample_blocks(samples(), rate, SAMPLE_RATE):
        yield to_pcm(block)


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
