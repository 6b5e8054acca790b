"""Generators: cadence, level and continuity of tones; FSK caller ID checked by spandsp's own receiver."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dsp.callerid import build_message
from edge.dsp.dtmf import DtmfDetector
from edge.dsp.generate import ToneSource, callerid_fsk, dtmf_digits, scale_to_dbm0
from edge.dsp.levels import dbm0
from edge.dsp.settings import DspConfig, TonePlan, ToneSpec
from tests.dsp_support import spandsp

needs_spandsp = pytest.mark.skipif(spandsp.find_library() is None, reason="libspandsp2 not installed")


def frames(source: ToneSource, count: int) -> list[np.ndarray]:
    return [source.next_frame() for _ in range(count)]


@pytest.mark.parametrize(
    ("kind", "on_frames", "off_frames"), [("busy", 25, 25), ("reorder", 15, 10), ("ringback", 50, 100)]
)
def test_cadence_and_level_of_the_korean_tones(kind: str, on_frames: int, off_frames: int) -> None:
    plan = TonePlan()
    made = frames(ToneSource(kind), 2 * (on_frames + off_frames))
    on = [dbm0(f) > -60 for f in made]
    assert on == ([True] * on_frames + [False] * off_frames) * 2
    tone_level = plan.spec(kind).level_dbm0 + 10 * np.log10(2)  # two tones of that level each
    assert abs(dbm0(np.concatenate(made[:on_frames])) - tone_level) < 0.1


def test_dial_tone_is_continuous_and_phase_continuous() -> None:
    source = ToneSource("dial")
    streamed = np.concatenate(frames(source, 50)).astype(float)
    n = np.arange(streamed.size)
    amp = np.max(np.abs(streamed)) / 2
    reference = amp * (np.sin(2 * np.pi * 350 * n / 8000) + np.sin(2 * np.pi * 440 * n / 8000))
    assert np.max(np.abs(streamed - reference)) < 0.02 * amp * 2


def test_alert_is_a_short_soft_one_shot_beep() -> None:
    source = ToneSource("alert")
    levels = [dbm0(f) for f in frames(source, 50)]
    audible = [i for i, lv in enumerate(levels) if lv > -60]
    assert audible and audible[-1] * 0.02 < 0.35
    assert all(lv < -20 for lv in levels)
    assert source.done


def test_tone_plan_from_config_drives_the_source() -> None:
    config = DspConfig(tones=TonePlan(busy=ToneSpec(freqs_hz=(425.0,), cadence_s=(0.2, 0.2), level_dbm0=-20)))
    levels = [dbm0(f) for f in frames(ToneSource("busy", config.tones), 20)]
    assert [lv > -60 for lv in levels] == ([True] * 10 + [False] * 10)
    with pytest.raises(ValueError, match="busy"):
        ToneSource("howler")


@needs_spandsp
@pytest.mark.parametrize("standard", ["bell202", "v23"])
@pytest.mark.parametrize("seizure", [True, False])
def test_callerid_fsk_is_understood_by_spandsp(standard: str, seizure: bool) -> None:
    x = callerid_fsk("0212345678", "KIM", "11231130", standard=standard, seizure=seizure, level_dbm0=-13)
    assert abs(dbm0(x) - (-13.0)) < 0.1
    got = spandsp.receive_caller_id(standard, np.concatenate((x, np.zeros(800, dtype=np.int16))))
    assert got == [build_message("0212345678", "KIM", "11231130")[:-1]]  # spandsp strips the checksum


@needs_spandsp
def test_sdmf_from_the_generator_is_understood_by_spandsp() -> None:
    import datetime as dt

    x = callerid_fsk("0317771234", when=dt.datetime(2026, 11, 23, 9, 5), fmt="sdmf")
    got = spandsp.receive_caller_id("bell202", np.concatenate((x, np.zeros(800, dtype=np.int16))))
    assert got == [b"\x04\x1211230905" + b"0317771234"]


def test_dtmf_digits_level_and_detection() -> None:
    x = dtmf_digits("*9#", on_ms=60, off_ms=60, level_dbm0=-20)
    assert x.size == 3 * 960
    assert abs(dbm0(x[:480]) - (-20 + 10 * np.log10(2))) < 0.1
    detector = DtmfDetector()
    assert [h.digit for h in detector.feed(x) + detector.flush()] == ["*", "9", "#"]
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_digits("12x")


def test_scale_to_dbm0() -> None:
    x = np.random.default_rng(0).normal(0, 1000, 8000)
    assert abs(dbm0(scale_to_dbm0(x, -16.0)) - (-16.0)) < 0.05
    assert np.all(scale_to_dbm0(np.zeros(10), -16.0) == 0)


@pytest.mark.parametrize("rate", [16000, 11025])
def test_detectors_work_at_other_sample_rates(rate: int) -> None:
    from scipy.signal import resample_poly

    from edge.dsp.callerid import CallerIdDecoder
    from edge.dsp.progress import CallProgressDetector

    def up(x: np.ndarray) -> np.ndarray:
        return np.round(resample_poly(x.astype(float), rate, 8000)).astype(np.int16)

    fsk = up(np.concatenate((callerid_fsk("0212345678"), np.zeros(800, dtype=np.int16))))
    assert [m.number for m in CallerIdDecoder(rate).feed(fsk)] == ["0212345678"]
    dtmf = DtmfDetector(rate)
    assert [h.digit for h in dtmf.feed(up(dtmf_digits("*9#"))) + dtmf.flush()] == ["*", "9", "#"]
    busy = ToneSource("busy")
    tone = up(np.concatenate([busy.next_frame() for _ in range(150)]))
    assert [e.kind for e in CallProgressDetector(rate).feed(tone)] == ["busy"]
