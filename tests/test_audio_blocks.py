"""Recordings read block by block: the seams of the block-wise resampler, every file format, bounded blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.audio import AudioFileError, recording_blocks, resample, resample_blocks
from edge.ports import Pcm


@pytest.mark.parametrize("rate", [4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 12345])
def test_block_wise_resampling_equals_resampling_the_whole(rate: int) -> None:
    rng = np.random.default_rng(rate)
    for n in (1, 7, rate * 3 + 17, rate * 11 + 5):
        x = rng.normal(size=n)
        cuts = np.sort(rng.integers(0, n + 1, size=6))
        got = np.concatenate(list(resample_blocks(np.split(x, cuts), rate, 8000)))
        whole = resample(x, rate, 8000)
        assert got.shape == whole.shape, (n, got.shape, whole.shape)
        assert np.abs(got - whole).max() < 1e-9, n


def test_nothing_in_gives_nothing_out() -> None:
    assert list(resample_blocks([], 44100, 8000)) == []
    assert list(resample_blocks([np.zeros(0)], 16000, 8000)) == []


def read_recording(path: Path, channel: int | None = None) -> Pcm:
    return np.concatenate(list(recording_blocks(path, channel)) or [np.zeros(0, dtype=np.int16)])


def _speechlike(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return 0.3 * envelope * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1210 * t))


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        ("WAV", "PCM_16"),
        ("WAV", "PCM_24"),
        ("WAV", "PCM_32"),
        ("WAV", "FLOAT"),
        ("WAV", "PCM_U8"),
        ("FLAC", "PCM_16"),
    ],
)
def test_every_format_reads_as_the_same_signal(tmp_path: Path, fmt: str, subtype: str) -> None:
    signal = _speechlike(2.0, 16000)
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, signal, 16000, format=fmt, subtype=subtype)
    pcm = read_recording(path)
    stored, _ = sf.read(path, dtype="float64")  # what the file holds, at its own bit depth
    expected = resample(stored * 32768.0, 16000, 8000)
    assert pcm.dtype == np.int16 and pcm.size == expected.size
    assert np.abs(pcm.astype(np.float64) - expected).max() <= 0.5 + 1e-9
    assert np.abs(expected - resample(signal * 32768.0, 16000, 8000)).max() < 400  # and it is the signal


def test_a_16_bit_file_at_8_khz_comes_back_sample_for_sample(tmp_path: Path) -> None:
    pcm = (np.random.default_rng(3).normal(size=8000) * 8000).astype(np.int16)
    pcm[:2] = (-32768, 32767)
    path = tmp_path / "exact.wav"
    sf.write(path, pcm, 8000, subtype="PCM_16")
    assert np.array_equal(read_recording(path), pcm)


def test_a_long_recording_comes_in_bounded_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    seconds = 60
    with sf.SoundFile(path, "w", 48000, 2, subtype="PCM_16") as out:
        for _ in range(seconds // 5):
            block = _speechlike(5.0, 48000)
            out.write(np.stack([block, -block], axis=1))
    sizes = [b.size for b in recording_blocks(path, channel=2)]
    assert sum(sizes) == seconds * 8000
    assert len(sizes) >= 10 and max(sizes) <= 6 * 8000


def test_the_chosen_channel_is_the_one_read(tmp_path: Path) -> None:
    left = _speechlike(1.0, 8000)
    path = tmp_path / "two.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 8000, subtype="PCM_16")
    assert np.abs(read_recording(path, channel=1)).max() > 1000
    assert np.abs(read_recording(path, channel=2)).max() == 0
    with pytest.raises(AudioFileError, match="--channel N"):
        read_recording(path)
    with pytest.raises(AudioFileError, match="out of range"):
        read_recording(path, channel=3)


def test_a_file_cut_short_or_not_audio_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    with pytest.raises(AudioFileError, match="not an audio file"):
        read_recording(junk)
