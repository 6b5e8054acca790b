"""Call-progress detection on the line leg, with tones built from their definitions, noise and speech."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dsp import g711
from edge.dsp.levels import to_pcm
from edge.dsp.progress import CallProgressDetector, ProgressEvent
from edge.dsp.settings import DspConfig, TonePlan, ToneSpec
from tests.dsp_support import speech
from tests.dsp_support.signals import FS, add_noise, amplitude, silence

PLAN = {  # DESIGN.md §5, written out independently of edge.dsp.settings
    "dial": ((350.0, 440.0), ()),
    "ringback": ((440.0, 480.0), (1.0, 2.0)),
    "busy": ((480.0, 620.0), (0.5, 0.5)),
    "reorder": ((480.0, 620.0), (0.3, 0.2)),
}


def cadenced(
    freqs: tuple[float, ...], cadence: tuple[float, ...], seconds: float, level: float
) -> np.ndarray:
    n = np.arange(round(seconds * FS))
    x = sum(amplitude(level) * np.sin(2 * np.pi * f * n / FS + k) for k, f in enumerate(freqs))
    x = np.asarray(x, dtype=np.float64)
    if cadence:
        period = sum(cadence)
        on = (n / FS) % period < cadence[0]
        x = np.where(on, x, 0.0)
    return x


def events(x: np.ndarray, frame: int = 160, config: DspConfig | None = None) -> list[ProgressEvent]:
    detector = CallProgressDetector(config=config)
    pcm = to_pcm(x)
    out: list[ProgressEvent] = []
    for i in range(0, pcm.size, frame):
        out += detector.feed(pcm[i : i + frame])
    return out


@pytest.mark.parametrize("kind", list(PLAN))
@pytest.mark.parametrize("level", [-10.0, -30.0])
def test_each_tone_is_recognised_once_and_alone_in_noise(kind: str, level: float) -> None:
    rng = np.random.default_rng(list(PLAN).index(kind) * 100 + int(-level))
    freqs, cadence = PLAN[kind]
    lead = float(rng.uniform(0.3, 1.0))
    tone = cadenced(freqs, cadence, 7.0, level)
    x = add_noise(np.concatenate((silence(lead * 1000), tone)), 15.0, rng, ref_power=amplitude(level) ** 2)
    got = events(x)
    assert [e.kind for e in got] == [kind]
    if kind in ("busy", "reorder"):
        assert got[0].at_s - lead <= 2.0  # a far-end hang-up must end the call within 2 s


@pytest.mark.parametrize("kind", ["busy", "reorder"])
def test_hang_up_tone_starting_mid_burst_after_speech_is_caught_within_2_s(kind: str) -> None:
    freqs, cadence = PLAN[kind]
    talk = speech.korean(speech.SENTENCES[5]) if speech.available() else np.zeros(FS * 2)
    tone = cadenced(freqs, cadence, 5.0, -20.0)[int(0.17 * FS) :]
    got = events(np.concatenate((talk, tone)))
    assert [e.kind for e in got] == [kind]
    assert got[0].at_s - talk.size / FS <= 2.0


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_busy_through_g711_and_odd_frames(law: str) -> None:
    x = to_pcm(cadenced(*PLAN["busy"], 3.0, -25.0))
    assert [e.kind for e in events(g711.roundtrip(x, law), frame=33)] == ["busy"]  # type: ignore[arg-type]


@pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed")
def test_speech_is_not_a_tone() -> None:
    rng = np.random.default_rng(4)
    talk = np.concatenate([speech.korean(s) for s in speech.SENTENCES])
    assert [e.kind for e in events(add_noise(talk, 25.0, rng))] == []


def test_long_silence_is_reported_once_and_line_noise_counts_as_silence() -> None:
    rng = np.random.default_rng(8)
    quiet = rng.normal(0, amplitude(-65.0) / np.sqrt(2), FS * 65)
    got = events(quiet)
    assert [e.kind for e in got] == ["silence"]
    assert abs(got[0].at_s - 30.0) < 0.1


def test_tone_plan_comes_from_config() -> None:
    plan = TonePlan(busy=ToneSpec(freqs_hz=(425.0, 425.0 * 1.5), cadence_s=(0.25, 0.25)))
    config = DspConfig(tones=plan, silence_s=5.0)
    x = cadenced((425.0, 637.5), (0.25, 0.25), 3.0, -15.0)
    assert [e.kind for e in events(x, config=config)] == ["busy"]
    assert [e.kind for e in events(cadenced(*PLAN["busy"], 3.0, -15.0), config=config)] == []


@pytest.mark.parametrize("kind", list(PLAN))
def test_mains_hum_and_dc_louder_than_the_tone_do_not_matter(kind: str) -> None:
    x = cadenced(*PLAN[kind], 5.0, -30.0)
    n = np.arange(x.size)
    assert [e.kind for e in events(x + amplitude(-10.0) * np.sin(2 * np.pi * 60 * n / FS) + 1000.0)] == [kind]
