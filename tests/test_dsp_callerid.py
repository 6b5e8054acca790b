"""Caller-ID decoder against spandsp's adsi_tx and minimodem, over levels, noise, clock offsets, preambles."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dsp import g711
from edge.dsp.callerid import CallerIdDecoder, CallerIdMessage, build_message, parse_message
from edge.dsp.generate import callerid_fsk, dtmf_digits, fsk_bits, fsk_modulate
from edge.dsp.levels import to_pcm
from tests.dsp_support import minimodem, spandsp
from tests.dsp_support.signals import add_noise, amplitude, resample_offset, silence

needs_spandsp = pytest.mark.skipif(spandsp.find_library() is None, reason="libspandsp2 not installed")
STANDARDS = ("bell202", "v23")


def decode(x: np.ndarray, frame: int = 160, **kwargs: object) -> list[CallerIdMessage]:
    decoder = CallerIdDecoder(**kwargs)  # type: ignore[arg-type]
    pcm = to_pcm(x)
    out: list[CallerIdMessage] = []
    for i in range(0, pcm.size, frame):
        out += decoder.feed(pcm[i : i + frame])
    return out


def at_level(x: np.ndarray, level_dbm0: float) -> np.ndarray:
    signal = np.asarray(x, dtype=np.float64)
    return signal * amplitude(level_dbm0) / np.sqrt(2 * np.mean(signal**2))


def impaired(x: np.ndarray, level: float, offset: int, snr: float, rng: np.random.Generator) -> np.ndarray:
    signal = at_level(x, level)
    if offset:
        signal = resample_offset(signal, offset)
    padded = np.concatenate((silence(float(rng.integers(20, 200))), signal, silence(100)))
    return add_noise(padded, snr, rng, ref_power=amplitude(level) ** 2 / 2)


def random_number(rng: np.random.Generator) -> str:
    return "0" + "".join(rng.choice(list("0123456789"), int(rng.integers(8, 11))))


@needs_spandsp
@pytest.mark.parametrize("standard", STANDARDS)
def test_mdmf_from_spandsp_gives_every_field(standard: str) -> None:
    x = spandsp.caller_id(standard, "0212345678", "HONG GILDONG", when="11231130")
    (msg,) = decode(np.concatenate((silence(300), x, silence(100))))
    assert (msg.standard, msg.format, msg.number, msg.name, msg.datetime) == (
        standard, "mdmf", "0212345678", "HONG GILDONG", "11231130",
    )  # fmt: skip
    assert msg.checksum_ok and msg.absence is None
    assert 0.3 < msg.start_s < 0.3 + x.size / 8000


@needs_spandsp
@pytest.mark.parametrize("standard", STANDARDS)
@pytest.mark.parametrize("absence", ["O", "P"])
def test_sdmf_and_mdmf_absence_from_spandsp(standard: str, absence: str) -> None:
    (sdmf,) = decode(
        np.concatenate((spandsp.caller_id(standard, None, fmt="sdmf", absence=absence), silence(50)))
    )
    assert (sdmf.format, sdmf.number, sdmf.absence, sdmf.datetime) == ("sdmf", None, absence, "01010000")
    (mdmf,) = decode(np.concatenate((spandsp.caller_id(standard, None, absence=absence), silence(50))))
    assert (mdmf.format, mdmf.number, mdmf.absence) == ("mdmf", None, absence)
    (number,) = decode(np.concatenate((spandsp.caller_id(standard, "0317771234", fmt="sdmf"), silence(50))))
    assert (number.format, number.number, number.checksum_ok) == ("sdmf", "0317771234", True)


@needs_spandsp
def test_every_number_right_at_20_db_over_the_grid() -> None:
    rng = np.random.default_rng(20)
    for standard in STANDARDS:
        for short in (False, True):
            for level in (-8.0, -35.0):
                for offset in (-1, 0, 1):
                    number = random_number(rng)
                    x = spandsp.caller_id(standard, number, "KIM", when="11231130", short_preamble=short)
                    got = decode(impaired(x, level, offset, 20.0, rng))
                    assert [(m.number, m.standard, m.checksum_ok) for m in got] == [(number, standard, True)], (
                        standard, short, level, offset,
                    )  # fmt: skip


@needs_spandsp
def test_at_least_99_percent_at_12_db() -> None:
    rng = np.random.default_rng(12)
    trials = failures = 0
    for standard in STANDARDS:
        for short in (False, True):
            for level in (-8.0, -20.0, -35.0):
                for offset in (-1, 0, 1):
                    for _ in range(3):
                        number = random_number(rng)
                        x = spandsp.caller_id(standard, number, when="11231130", short_preamble=short)
                        got = decode(impaired(x, level, offset, 12.0, rng))
                        trials += 1
                        if [(m.number, m.standard, m.checksum_ok) for m in got] != [(number, standard, True)]:
                            failures += 1
    assert trials == 108
    assert failures <= 1, f"{failures} of {trials} wrong at 12 dB SNR"


@pytest.mark.skipif(not minimodem.available(), reason="minimodem not installed")
@pytest.mark.parametrize("standard", STANDARDS)
def test_minimodem_fsk_is_decoded(standard: str) -> None:
    message = build_message("01099998888", "PARK", "02291805")
    got = decode(np.concatenate((silence(100), minimodem.fsk(message, standard), silence(100))))
    assert [(m.standard, m.number, m.name, m.datetime) for m in got] == [
        (standard, "01099998888", "PARK", "02291805")
    ]


def test_before_the_first_ring_between_rings_and_a_second_message_later() -> None:
    rng = np.random.default_rng(1)
    ring = np.clip(30000 * np.sin(2 * np.pi * 25 * np.arange(8000) / 8000), -32000, 32000)
    first = callerid_fsk("0211112222", level_dbm0=-20)
    second = callerid_fsk("0233334444", standard="v23", seizure=False, level_dbm0=-25)
    stream = np.concatenate(
        (silence(500), first, silence(300), ring, silence(700), ring, silence(400), second, silence(300))
    )
    got = decode(add_noise(stream, 30.0, rng, ref_power=amplitude(-20) ** 2 / 2))
    assert [(m.number, m.standard) for m in got] == [("0211112222", "bell202"), ("0233334444", "v23")]
    assert got[0].start_s < got[1].start_s


def test_a_corrupted_checksum_is_reported_not_hidden() -> None:
    message = bytearray(build_message("0212345678"))
    message[-1] ^= 0x01
    got = decode(np.concatenate((fsk_modulate(fsk_bits(bytes(message))), silence(50))))
    assert [(m.number, m.checksum_ok) for m in got] == [("0212345678", False)]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_own_generator_through_g711_and_any_frame_length(law: str) -> None:
    x = g711.roundtrip(callerid_fsk("0212345678", "KIM", "11231130", level_dbm0=-30), law)  # type: ignore[arg-type]
    for frame in (1, 77, 160, 4000):
        got = decode(np.concatenate((x, silence(50))), frame)
        assert [(m.number, m.name) for m in got] == [("0212345678", "KIM")]


def test_dtmf_caller_id() -> None:
    got = decode(np.concatenate((dtmf_digits("A0212345678C", on_ms=60, off_ms=60), silence(100))))
    assert [(m.standard, m.format, m.number) for m in got] == [("dtmf", "dtmf", "0212345678")]
    private = decode(np.concatenate((dtmf_digits("D1C"), silence(100))))
    assert [(m.number, m.absence) for m in private] == [(None, "P")]


def test_noise_tones_and_silence_give_nothing() -> None:
    rng = np.random.default_rng(9)
    n = np.arange(8000 * 3)
    tones = 8000 * np.sin(2 * np.pi * 1200 * n / 8000) + 4000 * np.sin(2 * np.pi * 2200 * n / 8000)
    for x in (rng.normal(0, 4000, 8000 * 10), tones, silence(3000)):
        assert decode(x) == []


def test_parse_rejects_inconsistent_structure() -> None:
    assert parse_message(b"\x80\x05\x02\x09123") is None  # parameter runs past the end
    assert parse_message(b"\x06\x01\x00\xf9") is None  # message waiting, not caller ID
    assert parse_message(b"\x04") is None


def test_unknown_standard_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="bell202"):
        CallerIdDecoder(standards=("bell203",))


def test_an_endless_mark_tone_keeps_memory_flat_and_a_message_after_it_still_decodes() -> None:
    decoder = CallerIdDecoder(standards=("bell202",))
    n = np.arange(8000 * 30)
    mark = to_pcm(amplitude(-15) * np.sin(2 * np.pi * 1200 * n / 8000))
    for i in range(0, mark.size, 160):
        assert decoder.feed(mark[i : i + 160]) == []
    assert decoder._fsk is not None and decoder._fsk._soft.size < 2000
    got = decoder.feed(np.concatenate((callerid_fsk("0212345678", level_dbm0=-15), to_pcm(silence(50)))))
    assert [m.number for m in got] == ["0212345678"]


@needs_spandsp
@pytest.mark.parametrize("standard", STANDARDS)
def test_mains_hum_and_dc_offset_do_not_matter(standard: str) -> None:
    rng = np.random.default_rng(60)
    x = np.concatenate(
        (silence(200), at_level(spandsp.caller_id(standard, "0212345678"), -30.0), silence(100))
    )
    n = np.arange(x.size)
    hum = amplitude(-10.0) * np.sin(2 * np.pi * 60 * n / 8000) + amplitude(-20.0) * np.sin(
        2 * np.pi * 180 * n / 8000
    )
    noisy = add_noise(x + hum + 2500.0, 20.0, rng, ref_power=amplitude(-30.0) ** 2 / 2)
    assert [(m.number, m.checksum_ok) for m in decode(noisy)] == [("0212345678", True)]
