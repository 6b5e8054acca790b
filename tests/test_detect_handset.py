"""The handset check: a held-out set through telephones' frequency responses, keywords still where the set says."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models"))

from pipeline import handset  # noqa: E402

BAND = np.linspace(300.0, 3400.0, 63)


def measured_db(taps: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    _, h = signal.freqz(taps, worN=freqs, fs=8000)
    _, ref = signal.freqz(taps, worN=[1000.0], fs=8000)
    return np.asarray(20 * np.log10(np.abs(h) / np.abs(ref[0])))


@pytest.mark.parametrize("name", sorted(handset.RESPONSES))
def test_each_handset_filter_has_its_named_response_across_the_band(name: str) -> None:
    response = handset.RESPONSES[name]
    wanted = response(BAND) - response(np.array([1000.0]))[0]
    assert np.max(np.abs(measured_db(handset.fir(response), BAND) - wanted)) < 1.0
    assert np.ptp(wanted) > 7.5  # each is a real colouring of the band, not a flat line


def test_random_handsets_follow_their_drawn_response_and_differ() -> None:
    rng = np.random.default_rng(5)
    spans = []
    for _ in range(20):
        response = handset.random_response(rng)
        wanted = response(BAND) - response(np.array([1000.0]))[0]
        assert np.max(np.abs(measured_db(handset.fir(response), BAND) - wanted)) < 1.5
        spans.append(float(np.ptp(wanted)))
    assert min(spans) < 6.0 < max(spans)


def test_through_keeps_timing_and_loudness_and_colours_the_spectrum() -> None:
    noise = (np.random.default_rng(1).standard_normal(16000) * 3000).astype(np.int16)
    out = handset.through(noise, handset.fir(handset.RESPONSES["rise"]), np.random.default_rng(0))
    assert out.dtype == np.int16 and out.size == noise.size
    # The FIR's delay is removed: the output lines up with the input at lag 0, so keyword ends stay put.
    xcorr = signal.correlate(out.astype(float), noise.astype(float), mode="full")
    assert int(np.argmax(xcorr)) - (noise.size - 1) == 0
    assert np.std(out) == pytest.approx(np.std(noise), rel=0.05)
    # Rising 3 dB per octave: 2.8 kHz against 500 Hz is about 3 * log2(5.6) = 7.5 dB up.
    f, p_in = signal.welch(noise.astype(float), fs=8000, nperseg=512)
    _, p_out = signal.welch(out.astype(float), fs=8000, nperseg=512)
    gain = 10 * np.log10(p_out / p_in)
    lift = gain[np.argmin(np.abs(f - 2800))] - gain[np.argmin(np.abs(f - 500))]
    assert lift == pytest.approx(7.5, abs=1.5)


def test_handset_set_filters_every_clip_and_the_stream_and_keeps_the_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    clips = np.empty(3, dtype=object)
    clips[:] = [(rng.standard_normal(n) * 2000).astype(np.int16) for n in (4000, 6000, 8000)]
    near = np.empty(1, dtype=object)
    near[:] = [(rng.standard_normal(5000) * 2000).astype(np.int16)]
    src = tmp_path / "test.npz"
    stream = (rng.standard_normal(handset.STREAM_CHUNK + 4000) * 2000).astype(np.int16)
    ends = np.array([0.3, 0.5, 0.7])
    np.savez(src, pos_pcm=clips, pos_group=np.array([0, 1, 2]), pos_end=ends, near_pcm=near, stream=stream)
    counts = handset.handset_set(src, tmp_path / "peak" / "test.npz", "peak")
    assert counts == {"clips": 3, "near": 1, "stream_samples": stream.size}
    with np.load(tmp_path / "peak" / "test.npz", allow_pickle=True) as out:
        assert np.array_equal(out["pos_end"], ends) and np.array_equal(out["pos_group"], [0, 1, 2])
        for before, after in zip(clips, out["pos_pcm"], strict=True):
            assert after.size == before.size and not np.array_equal(after, before)
        assert out["stream"].size == stream.size
    with pytest.raises(ValueError, match="unknown handset response"):
        handset.handset_set(src, tmp_path / "x.npz", "tin-can")
