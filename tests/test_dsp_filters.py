"""The FIR helpers: responses where the detectors rely on them, and streaming equal to one-shot."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dsp.filters import StreamingFir, band_pass, high_pass


def gain_db(kernel: np.ndarray, freq: float) -> float:
    response = np.sum(kernel * np.exp(-2j * np.pi * freq / 8000 * np.arange(kernel.size)))
    return float(20 * np.log10(max(abs(response), 1e-12)))


def test_responses() -> None:
    dtmf = high_pass(8000, 300.0, 65)
    assert gain_db(dtmf, 60) < -60 and all(abs(gain_db(dtmf, f)) < 0.1 for f in (697, 941, 1209, 1633))
    fsk = band_pass(8000, 650.0, 2750.0, 41)
    assert gain_db(fsk, 60) < -40 and all(abs(gain_db(fsk, f)) < 0.5 for f in (1200, 1300, 2100, 2200))
    with pytest.raises(ValueError, match="odd"):
        high_pass(8000, 300.0, 64)


def test_streaming_in_pieces_equals_filtering_at_once() -> None:
    x = np.random.default_rng(0).normal(0, 1000, 5000)
    kernel = high_pass(8000, 300.0, 65)
    whole = np.convolve(x, kernel)[: x.size]
    fir = StreamingFir(kernel)
    pieces = np.concatenate([fir(x[i : i + 37]) for i in range(0, x.size, 37)])
    assert np.allclose(pieces, whole)
    assert fir.delay == 32
