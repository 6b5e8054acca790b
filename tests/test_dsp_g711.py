"""G.711 against Python's reference coder (audioop) and sox, and the dBm0 convention."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from edge.dsp import g711
from edge.dsp.levels import dbm0, dbm0_to_amplitude

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


@pytest.mark.skipif(_audioop() is None, reason="audioop is gone from this Python")
@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_bit_exact_with_audioop_over_every_16_bit_value(law: str) -> None:
    audioop = _audioop()
    enc = audioop.lin2ulaw if law == "ulaw" else audioop.lin2alaw
    dec = audioop.ulaw2lin if law == "ulaw" else audioop.alaw2lin
    reference = np.frombuffer(enc(ALL_SAMPLES.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(g711.encode(ALL_SAMPLES, law), reference)  # type: ignore[arg-type]
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(g711.decode(codes, law), np.frombuffer(dec(codes.tobytes(), 2), dtype=np.int16))  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize(("law", "encoding"), [("ulaw", "u-law"), ("alaw", "a-law")])
def test_decoding_matches_sox(law: str, encoding: str, tmp_path: Path) -> None:
    codes = np.arange(256, dtype=np.uint8)
    raw = tmp_path / "codes.raw"
    raw.write_bytes(codes.tobytes())
    out = tmp_path / "pcm.raw"
    subprocess.run(
        ["sox", "-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1", str(raw),
         "-t", "raw", "-e", "signed-integer", "-b", "16", str(out)],
        check=True,
    )  # fmt: skip
    assert np.array_equal(g711.decode(codes, law), np.frombuffer(out.read_bytes(), dtype="<i2"))  # type: ignore[arg-type]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_roundtrip_is_idempotent_and_keeps_a_tone_level(law: str) -> None:
    once = g711.roundtrip(ALL_SAMPLES, law)  # type: ignore[arg-type]
    assert np.array_equal(g711.roundtrip(once, law), once)  # type: ignore[arg-type]
    n = np.arange(8000)
    tone = np.round(dbm0_to_amplitude(-10) * np.sin(2 * np.pi * 1004 * n / 8000)).astype(np.int16)
    assert abs(dbm0(g711.roundtrip(tone, law)) - (-10.0)) < 0.1  # type: ignore[arg-type]
    err = g711.roundtrip(tone, law).astype(float) - tone  # type: ignore[arg-type]
    assert 10 * np.log10(np.mean(tone.astype(float) ** 2) / np.mean(err**2)) > 33  # G.711 SQNR at -10 dBm0


def test_dbm0_convention() -> None:
    n = np.arange(8000)
    full = 32767 * np.sin(2 * np.pi * 1000 * n / 8000)
    assert abs(dbm0(full) - 3.14) < 0.01
    assert abs(dbm0(full / 10) - (3.14 - 20)) < 0.01
    assert dbm0(np.zeros(100, dtype=np.int16)) == -120.0


def test_unknown_law_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ulaw"):
        g711.roundtrip(ALL_SAMPLES, "mulaw")  # type: ignore[arg-type]
