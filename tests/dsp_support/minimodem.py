"""minimodem as a second independent FSK sender: our bit stream packed raw (no framing added by minimodem)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

TONES = {"bell202": (1200, 2200), "v23": (1300, 2100)}


def available() -> bool:
    """Whether minimodem is installed."""
    return shutil.which("minimodem") is not None


def _framed_bits(message: bytes, marks: int) -> list[int]:
    bits = [1] * marks
    for byte in message:
        bits += [0] + [(byte >> k) & 1 for k in range(8)] + [1]
    bits += [1] * 8
    while len(bits) % 8:
        bits.append(1)
    return bits


def fsk(message: bytes, standard: str = "bell202", marks: int = 120) -> npt.NDArray[np.int16]:
    """``message`` as 8N1 bytes after ``marks`` mark bits, modulated by minimodem at 8 kHz."""
    bits = _framed_bits(message, marks)
    raw = bytes(sum(bits[i + k] << k for k in range(8)) for i in range(0, len(bits), 8))
    mark, space = TONES[standard]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fsk.wav"
        subprocess.run(
            ["minimodem", "--tx", "1200", "--mark", str(mark), "--space", str(space),
             "--startbits", "0", "--stopbits", "0", "-8", "-R", "8000", "-f", str(out)],
            input=raw,
            check=True,
            capture_output=True,
        )  # fmt: skip
        samples, rate = sf.read(out, dtype="int16")
    assert rate == 8000
    return np.asarray(samples, dtype=np.int16)
