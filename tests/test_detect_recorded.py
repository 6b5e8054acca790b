"""The real-recordings check: which files it takes as telephone audio, and how it strings prompts into calls."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from edge.dsp import g711

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models"))

from pipeline import recorded_check  # noqa: E402
from pipeline.music_check import CALL_S  # noqa: E402


def write(path: Path, seconds: float, rate: int = 8000, channels: int = 1, value: int = 1000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(seconds * rate)
    data = np.full((frames, channels) if channels > 1 else frames, value, dtype=np.int16)
    sf.write(path, data, rate, subtype="PCM_16")


def test_only_8khz_mono_recordings_are_taken_and_kept_sample_for_sample(tmp_path: Path) -> None:
    write(tmp_path / "a" / "hello.wav", 1.0, value=1234)
    write(tmp_path / "b.wav", 1.0, rate=16000)
    write(tmp_path / "c.wav", 1.0, channels=2)
    write(tmp_path / "d.wav", 0.05)
    (tmp_path / "readme.txt").write_text("not audio")
    found = recorded_check.prompts(tmp_path)
    assert [name for name, _ in found] == ["a/hello.wav"]
    assert np.array_equal(found[0][1], np.full(8000, 1234.0))


def test_prompts_become_three_minute_calls_that_say_where_each_prompt_starts() -> None:
    said = [(f"p{i}.wav", np.full(8000 * 7, float(i + 1))) for i in range(60)]
    calls = recorded_check.calls(said, seed=3)
    assert sorted(name for _, starts in calls for _, name in starts) == sorted(name for name, _ in said)
    assert all(pcm.size >= CALL_S * 8000 for pcm, _ in calls[:-1])
    for pcm, starts in calls:
        for start, name in starts:
            value = int(name[1:].removesuffix(".wav")) + 1
            assert np.all(pcm[start : start + 8000 * 7] == value)
        gaps = np.diff([start for start, _ in starts]) - 8000 * 7
        assert np.all((gaps >= 0.3 * 8000) & (gaps <= 1.2 * 8000))
    assert recorded_check.calls(said, seed=3)[0][1] == calls[0][1]
    assert recorded_check.calls(said, seed=4)[0][1] != calls[0][1]


def test_voices_become_a_stream_set_and_training_negatives(tmp_path: Path) -> None:
    root = tmp_path / "sounds"
    for i in range(8):
        write(root / "en_US_f_Allison" / f"en{i}.wav", 30.0, value=100 + i)
        write(root / "ru_RU_f_IvrvoiceRU" / f"ru{i}.wav", 30.0, value=-200 - i)
    recorded_check.write_stream(tmp_path / "set.npz", 3, ["ru_RU_f_IvrvoiceRU"], root=root)
    held = np.load(tmp_path / "set.npz")
    assert sorted(held["stream_text"]) == [f"ru_RU_f_IvrvoiceRU/ru{i}.wav" for i in range(8)]
    for text, start in zip(held["stream_text"], held["stream_start_s"], strict=True):
        value = -200 - int(text[-5])
        at = int(start * 8000)
        on_line = g711.roundtrip(np.full(1, value, dtype=np.int16), "ulaw")[0]
        assert np.all(held["stream"][at : at + 8000 * 30] == on_line)
    recorded_check.write_real(tmp_path / "real.npz", ["en_US_f_Allison"], 50, seed=1, root=root)
    real = np.load(tmp_path / "real.npz")
    assert real["x"].shape[0] == 50 and not real["y"].any()
    assert set(recorded_check.TRAINING_VOICES).isdisjoint(recorded_check.CHECK_VOICES)
    assert len(recorded_check.TRAINING_VOICES) + len(recorded_check.CHECK_VOICES) == len(
        recorded_check.VOICES
    )
