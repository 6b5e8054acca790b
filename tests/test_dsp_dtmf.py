"""DTMF detector against the ITU-T Q.24 grid, with spandsp's dtmf_tx as an independent sender."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dsp.dtmf import DtmfDetector, DtmfHit
from edge.dsp.levels import to_pcm
from tests.dsp_support import spandsp
from tests.dsp_support.signals import add_noise, dtmf_pair, silence

ALL = "123456789*0#ABCD"
needs_spandsp = pytest.mark.skipif(spandsp.find_library() is None, reason="libspandsp2 not installed")


def detect(x: np.ndarray, frame: int = 160) -> list[DtmfHit]:
    detector = DtmfDetector()
    pcm = to_pcm(np.concatenate((silence(50), x, silence(120))))
    hits: list[DtmfHit] = []
    for i in range(0, pcm.size, frame):
        hits += detector.feed(pcm[i : i + frame])
    return hits + detector.flush()


def digits(x: np.ndarray, frame: int = 160) -> str:
    return "".join(hit.digit for hit in detect(x, frame))


@needs_spandsp
def test_every_digit_from_spandsp_is_found_once_with_its_timing() -> None:
    hits = detect(spandsp.dtmf(ALL, on_ms=50, off_ms=50, level=-10))
    assert "".join(h.digit for h in hits) == ALL
    for k, hit in enumerate(hits):
        true_start = 0.05 + k * 0.1
        assert abs(hit.start_s - true_start) < 0.012
        assert abs(hit.end_s - (true_start + 0.05)) < 0.012


@needs_spandsp
@pytest.mark.parametrize("level", [-3, -20, -35])
def test_levels_from_minus_3_down_to_minus_35_dbm0_per_tone(level: int) -> None:
    assert digits(spandsp.dtmf(ALL, on_ms=45, off_ms=45, level=level)) == ALL


@needs_spandsp
@pytest.mark.parametrize("frame", [1, 37, 160, 1000])
def test_any_frame_length_gives_the_same_digits(frame: int) -> None:
    assert digits(spandsp.dtmf("*9#0", level=-20), frame) == "*9#0"


@pytest.mark.parametrize("dev", [0.015, -0.015])
def test_offsets_within_1_5_percent_are_accepted_on_every_tone(dev: float) -> None:
    for d in ALL:
        assert digits(dtmf_pair(d, 60, low_dev=dev)) == d
        assert digits(dtmf_pair(d, 60, high_dev=dev)) == d


@pytest.mark.parametrize("dev", [0.035, -0.035, 0.05, -0.05])
def test_offsets_beyond_3_5_percent_are_rejected_on_every_tone(dev: float) -> None:
    for d in ALL:
        assert digits(dtmf_pair(d, 60, low_dev=dev)) == ""
        assert digits(dtmf_pair(d, 60, high_dev=dev)) == ""


@pytest.mark.parametrize("twist", [4.0, -8.0, 0.0])
def test_twist_within_plus_4_minus_8_db_is_accepted(twist: float) -> None:
    for d in ALL:
        assert digits(dtmf_pair(d, 50, low_dbm0=-12 - max(twist, 0), twist_db=twist)) == d


@pytest.mark.parametrize("twist", [7.0, -12.0])
def test_twist_well_outside_the_limits_is_rejected(twist: float) -> None:
    for d in ALL:
        assert digits(dtmf_pair(d, 50, low_dbm0=-15, twist_db=twist)) == ""


def test_40_ms_is_accepted_and_20_ms_rejected() -> None:
    rng = np.random.default_rng(7)
    for d in ALL:
        for _ in range(3):
            lead = silence(float(rng.integers(0, 10)))
            assert digits(np.concatenate((lead, dtmf_pair(d, 40)))) == d
            assert digits(np.concatenate((lead, dtmf_pair(d, 20)))) == ""


def test_a_40_ms_pause_separates_repeated_digits() -> None:
    x = np.concatenate((dtmf_pair("5", 50), silence(40), dtmf_pair("5", 50), silence(40), dtmf_pair("5", 50)))
    assert digits(x) == "555"


def test_a_10_ms_break_inside_a_digit_is_bridged() -> None:
    x = np.concatenate((dtmf_pair("5", 60), silence(10), dtmf_pair("5", 60)))
    assert digits(x) == "5"


@pytest.mark.parametrize("twist", [0.0, -8.0, 4.0])
def test_15_db_snr_at_minus_35_dbm0_with_the_extreme_twists(twist: float) -> None:
    rng = np.random.default_rng(int(twist) + 10)
    x = np.concatenate(
        [np.concatenate((dtmf_pair(d, 45, low_dbm0=-35, twist_db=twist), silence(45))) for d in ALL]
    )
    tone_power = float(np.mean(dtmf_pair("5", 50, low_dbm0=-35, twist_db=twist) ** 2))
    for _ in range(2):
        assert digits(add_noise(x, 15.0, rng, ref_power=tone_power)) == ALL


def test_noise_and_silence_alone_give_no_digits() -> None:
    rng = np.random.default_rng(5)
    assert digits(rng.normal(0, 3000, 8000 * 5)) == ""
    assert digits(silence(2000)) == ""


def test_a_single_tone_or_a_chord_of_three_is_not_a_digit() -> None:
    n = np.arange(4000)
    assert digits(8000 * np.sin(2 * np.pi * 697 * n / 8000)) == ""
    chord = dtmf_pair("5", 500) + dtmf_pair("9", 500)
    assert digits(chord) == ""


def test_mains_hum_and_dc_offset_louder_than_the_digits_do_not_matter() -> None:
    x = np.concatenate([np.concatenate((dtmf_pair(d, 50, low_dbm0=-25), silence(50))) for d in ALL])
    n = np.arange(x.size)
    hum = 10 ** (-10 / 20) * 22800 * np.sin(2 * np.pi * 60 * n / 8000)  # about -10 dBm0
    assert digits(x + hum + 3000.0) == ALL
