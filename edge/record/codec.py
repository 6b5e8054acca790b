"""Opus chunks through libsndfile: each leg (caller, staff) its own mono Ogg Opus stream, 8 kHz.

Two mono streams rather than one stereo stream: at speech bitrates Opus folds stereo towards mono
(measured: at 16 kbit/s the caller channel carried the staff tone at the same level), and evidence
needs the two legs apart.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt
import soundfile as sf

from edge.ports import SAMPLE_RATE, Pcm

CHANNELS = ("caller", "staff")

# libsndfile maps compression level 0..1 linearly onto 256..6 kbit/s per channel (ogg_opus.c).
_MAX_PER_CHANNEL = 256_000
_MIN_PER_CHANNEL = 6_000
_LENGTH = struct.Struct(">I")


def compression_level(bitrate_kbps: float) -> float:
    """The libsndfile compression level that asks Opus for ``bitrate_kbps`` on one mono stream."""
    rate = min(max(bitrate_kbps * 1000, _MIN_PER_CHANNEL), _MAX_PER_CHANNEL)
    return 1.0 - (rate - _MIN_PER_CHANNEL) / (_MAX_PER_CHANNEL - _MIN_PER_CHANNEL)


def _encode_mono(pcm: Pcm, bitrate_kbps: float) -> bytes:
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer,
        "w",
        samplerate=SAMPLE_RATE,
        channels=1,
        format="OGG",
        subtype="OPUS",
        compression_level=compression_level(bitrate_kbps),
    ) as handle:
        handle.write(np.asarray(pcm, np.int16))
    return buffer.getvalue()


def _decode_mono(data: bytes) -> npt.NDArray[np.int16]:
    samples, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    if rate != SAMPLE_RATE or samples.shape[1] != 1:
        raise ValueError(f"unexpected stream format: {rate} Hz, {samples.shape[1]} channels")
    mono: npt.NDArray[np.int16] = samples[:, 0]
    return mono


def encode_chunk(caller: Pcm, staff: Pcm, bitrate_kbps: int) -> bytes:
    """Both legs of one chunk: ``[u32 caller length][caller Ogg Opus][staff Ogg Opus]``.

    ``bitrate_kbps`` is for both legs together; each gets half.
    """
    if len(caller) != len(staff):
        raise ValueError(f"legs differ in length: caller {len(caller)}, staff {len(staff)}")
    first = _encode_mono(caller, bitrate_kbps / 2)
    second = _encode_mono(staff, bitrate_kbps / 2)
    return _LENGTH.pack(len(first)) + first + second


def decode_chunk(data: bytes) -> npt.NDArray[np.int16]:
    """Samples x 2 (caller, staff) of one chunk made by ``encode_chunk``."""
    (length,) = _LENGTH.unpack_from(data)
    if _LENGTH.size + length > len(data):
        raise ValueError("chunk is shorter than its caller stream")
    caller = _decode_mono(data[_LENGTH.size : _LENGTH.size + length])
    staff = _decode_mono(data[_LENGTH.size + length :])
    n = min(len(caller), len(staff))
    return np.stack([caller[:n], staff[:n]], axis=1)
