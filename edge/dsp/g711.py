"""ITU-T G.711 µ-law and A-law, vectorised with numpy and bit-exact to the reference (Sun/CCITT) coder."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from edge.ports import Pcm

Law = Literal["ulaw", "alaw"]
Codes = npt.NDArray[np.uint8]

_ULAW_BIAS = 0x84
_ULAW_CLIP_14 = 8159
# Upper ends of the eight segments, on 14-bit (µ-law) and 13-bit (A-law) magnitudes.
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def ulaw_encode(pcm: npt.ArrayLike) -> Codes:
    """16-bit linear samples to µ-law code bytes, as sent on the line (all bits inverted)."""
    x = np.right_shift(np.asarray(pcm, dtype=np.int32), 2)
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP_14) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude, side="left").astype(np.int32)
    code = np.left_shift(seg, 4) | (np.right_shift(magnitude, seg + 1) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def ulaw_decode(codes: npt.ArrayLike) -> Pcm:
    """µ-law code bytes to 16-bit linear samples."""
    return _ULAW_TABLE[np.asarray(codes, dtype=np.uint8)]


def alaw_encode(pcm: npt.ArrayLike) -> Codes:
    """16-bit linear samples to A-law code bytes, as sent on the line (even bits inverted)."""
    x = np.right_shift(np.asarray(pcm, dtype=np.int32), 3)
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    seg = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude, side="left").astype(np.int32)
    shift = np.where(seg < 2, 1, seg)
    code = np.left_shift(np.minimum(seg, 7), 4) | (np.right_shift(magnitude, shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def alaw_decode(codes: npt.ArrayLike) -> Pcm:
    """A-law code bytes to 16-bit linear samples."""
    return _ALAW_TABLE[np.asarray(codes, dtype=np.uint8)]


def encode(pcm: npt.ArrayLike, law: Law) -> Codes:
    """Encode with the named law."""
    _check(law)
    return ulaw_encode(pcm) if law == "ulaw" else alaw_encode(pcm)


def decode(codes: npt.ArrayLike, law: Law) -> Pcm:
    """Decode with the named law."""
    _check(law)
    return ulaw_decode(codes) if law == "ulaw" else alaw_decode(codes)


def roundtrip(pcm: npt.ArrayLike, law: Law) -> Pcm:
    """What a G.711 line does to audio: encode, then decode."""
    return decode(encode(pcm, law), law)


def _check(law: str) -> None:
    if law not in ("ulaw", "alaw"):
        raise ValueError(f"unknown G.711 law {law!r}; use 'ulaw' or 'alaw'")


def _ulaw_table() -> Pcm:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    seg = np.right_shift(codes & 0x70, 4)
    magnitude = np.left_shift(np.left_shift(codes & 0x0F, 3) + _ULAW_BIAS, seg) - _ULAW_BIAS
    table: Pcm = np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)
    return table


def _alaw_table() -> Pcm:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    seg = np.right_shift(codes & 0x70, 4)
    t = np.left_shift(codes & 0x0F, 4)
    t = np.where(seg == 0, t + 8, np.left_shift(t + 0x108, np.maximum(seg - 1, 0)))
    table: Pcm = np.where(codes & 0x80, t, -t).astype(np.int16)
    return table


_ULAW_TABLE = _ulaw_table()
_ALAW_TABLE = _alaw_table()
