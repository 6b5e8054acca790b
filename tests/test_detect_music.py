"""Music on the caller leg: the music veto (edge.dsp.tonality) keeps the model from taking notes for words.

The fixture is hold music played by another implementation, FluidSynth with the FluidR3 General MIDI sound
font's sampled marimba and vibraphone (``python -m pipeline.music_check --fixture`` from models/ wrote it),
carried as a line carries it (300-3400 Hz, G.711 mu-law, -15 dBm0). The veto is tested with a model that
takes the bells for a keyword, ``fooled_by_bells.tflite`` (kws-20261207-1410, the model shipped before
stage 23, which heard music in training and no longer takes these bells for a word): alone it warns on them.
Keywords over the bells are heard by the shipped model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge.audio import read_wav, synthesize
from edge.core.events import Tier
from edge.detect.cli import scan
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.dsp.generate import scale_to_dbm0
from edge.dsp.levels import to_pcm
from edge.dsp.tonality import steady_share

FIXTURES = Path(__file__).parent / "fixtures"
FOOLED = FIXTURES / "music" / "fooled_by_bells.tflite"
RATE = 8000
VETO = DetectionConfig().tonal_veto


def _detector(**settings: Any) -> AbuseDetector:
    config = {"inline": True, "shouting_enabled": False, "calibration_enabled": False, **settings}
    found, error = load_detector(DetectionConfig(**config))
    assert found is not None, error
    return found


def _bells() -> npt.NDArray[np.float64]:
    return read_wav(FIXTURES / "music" / "hold_bells.wav").astype(np.float64)


def test_hold_music_that_the_model_takes_for_a_keyword_raises_nothing_with_the_veto() -> None:
    without = _detector(tonal_veto=0.0, model_path=FOOLED)
    taken = scan(without, to_pcm(_bells()), Tier.ALERT)
    assert any(d["tier"] == "warn" for d in taken), "the model no longer warns on the bells: a weaker fixture"
    assert without.health()["tonal_vetoes"] == 0
    with_veto = _detector(model_path=FOOLED)
    assert scan(with_veto, to_pcm(_bells()), Tier.ALERT) == []
    assert with_veto.health()["tonal_vetoes"] >= len(taken) - 1  # one per run of candidate hops


def test_what_the_veto_takes_for_music_is_not_learned_as_the_sites_speech() -> None:
    highest = {}
    for veto in (0.0, VETO):
        detector = _detector(tonal_veto=veto, calibration_enabled=True, model_path=FOOLED)
        scan(detector, to_pcm(_bells()), Tier.ALERT)
        detector.end_call(staff_acted=False, caller_speech_s=60.0)
        highest[veto] = max(detector.calibrator.peaks["momae"], default=0.0)
        alert = detector.calibrator.shipped[Tier.ALERT]["momae"]
    assert highest[0.0] >= alert  # without the veto, the bells' peaks would teach calibration to raise 몸매
    assert highest[VETO] < alert


def test_loud_music_after_a_quiet_caller_is_not_taken_for_shouting_but_a_raised_voice_still_is() -> None:
    talk = np.concatenate(
        [
            synthesize(t, voice="ko+f3")
            for t in ("안녕하세요 주민센터에 문의드릴게 있어서요", "전입신고는 어떻게 하나요")
        ]
    )
    quiet = scale_to_dbm0(talk, -25.0)
    music = np.concatenate([quiet, scale_to_dbm0(_bells(), -3.0)])
    voice = np.concatenate([quiet, scale_to_dbm0(np.tile(talk, 2), -3.0)])
    shouts = {}
    for veto in (0.0, VETO):
        for name, pcm in (("music", music), ("voice", voice)):
            detector = _detector(tonal_veto=veto, shouting_enabled=True, model_path=FOOLED)
            found = scan(detector, pcm, Tier.ALERT)
            shouts[(veto, name)] = [d for d in found if d["keyword"] == "shouting"]
    assert shouts[(0.0, "music")], "loud music no longer trips the shouting cue: a weaker test"
    assert shouts[(VETO, "music")] == []
    assert shouts[(0.0, "voice")] and shouts[(VETO, "voice")] == shouts[(0.0, "voice")]


def test_lineguard_kws_reports_the_candidates_it_took_for_music(tmp_path: Path) -> None:
    fooled = f"[detection]\nmodel_path = {json.dumps(str(FOOLED))}\n"
    (tmp_path / "on.toml").write_text(fooled, encoding="utf-8")
    (tmp_path / "off.toml").write_text(fooled + "tonal_veto = 0.0\n", encoding="utf-8")
    reports = []
    for name in ("on", "off"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge",
                "kws",
                str(FIXTURES / "music" / "hold_bells.wav"),
                "--json",
                "--config",
                str(tmp_path / f"{name}.toml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout))
    vetoed, unvetoed = reports
    assert vetoed["detections"] == [] and vetoed["music_vetoes"] >= 2
    assert unvetoed["music_vetoes"] == 0 and {d["keyword"] for d in unvetoed["detections"]} == {"momae"}


@pytest.mark.parametrize("name", ["profanity_ssibal", "sexual_momae", "threat_jugyeo"])
def test_a_keyword_said_over_the_hold_music_is_still_heard(name: str) -> None:
    word = read_wav(FIXTURES / "kws" / f"{name}.wav").astype(np.float64)
    bells = _bells()
    loud = word[np.abs(word) > 50]
    heard = []
    for offset in (0, 30000):  # the marimba's notes under the word, 10 dB under its voiced level
        bed = bells[offset : offset + word.size]
        gain = np.sqrt(np.mean(loud**2) / np.mean(bed**2)) * 10 ** (-10 / 20)
        mixed = to_pcm(word + bed * gain)
        with_veto = scan(_detector(), mixed, Tier.ALERT)
        assert with_veto == scan(_detector(tonal_veto=0.0), mixed, Tier.ALERT)
        heard += [d["keyword"] for d in with_veto]
    # Over these bells the shipped model hears each fixture word at one offset or both; the veto takes none.
    assert heard and set(heard) == {name.split("_")[1]}


def _notes(seconds: float, partials: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """Struck notes of a C major arpeggio, each decaying, with the given partial ratios (a bell's, a piano's)."""
    t = np.arange(int(0.25 * RATE)) / RATE
    keys = [261.63, 329.63, 392.0, 523.25]
    notes = [
        np.exp(-t * 8)
        * sum(np.sin(2 * np.pi * keys[i % 4] * r * t) / (k + 1) for k, r in enumerate(partials))
        for i in range(int(seconds / 0.25))
    ]
    return np.concatenate(notes) * 8000


def _gliding_voice(seconds: float, seed: int) -> npt.NDArray[np.float64]:
    """A harmonic voice whose pitch wanders as speech's does (100-220 Hz, new target every 150 ms)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    targets = rng.uniform(100, 220, int(seconds / 0.15) + 2)
    f0 = np.interp(np.arange(n), np.arange(targets.size) * 0.15 * RATE, targets)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(n) / RATE)  # 4 syllables a second
    return syllables * sum(np.sin(k * phase) / k for k in range(1, 16)) * 6000


@pytest.mark.parametrize("partials", [(1.0, 2.0, 3.0), (1.0, 3.93, 9.54), (1.0, 2.0, 3.0, 4.0, 5.0)])
def test_struck_notes_are_steady_partials(partials: tuple[float, ...]) -> None:
    assert steady_share(_notes(1.5, partials)) > 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_voice_whose_pitch_glides_is_not(seed: int) -> None:
    assert steady_share(_gliding_voice(1.5, seed)) < VETO - 0.2


def test_a_voice_that_holds_one_pitch_is_steady_which_is_why_only_candidates_are_measured() -> None:
    n = int(1.5 * RATE)
    held = sum(np.sin(2 * np.pi * 150 * k * np.arange(n) / RATE) / k for k in range(1, 16)) * 6000
    assert steady_share(held) > 0.9


@pytest.mark.parametrize(
    "phrase", ["미친놈아 꺼져", "씨발 진짜", "몸매 좋겠다", "죽여버린다", "가슴 만지고 싶다", "나랑 잘래"]
)
def test_spoken_keywords_are_far_under_the_veto(phrase: str) -> None:
    for voice in ("ko+m2", "ko+f3"):
        speech = synthesize(phrase, voice=voice).astype(np.float64)
        assert steady_share(speech[-int(1.5 * RATE) :]) < VETO - 0.1, (phrase, voice)


def test_silence_noise_and_a_clip_too_short_measure_nothing_steady() -> None:
    assert steady_share(np.zeros(RATE)) == 0.0
    assert steady_share(np.ones(100)) == 0.0
    assert steady_share(np.random.default_rng(0).standard_normal(RATE) * 3000) < 0.1
