"""Hypothesis fuzzing: random bytes and random frame splits into every decoder; no crash, no hang."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.dsp.callerid import CallerIdDecoder, CallerIdMessage, parse_message
from edge.dsp.dtmf import DtmfDetector, DtmfHit
from edge.dsp.generate import fsk_bits, fsk_modulate
from edge.dsp.progress import CallProgressDetector, ProgressEvent

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def split(pcm: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    points = sorted({c % (pcm.size + 1) for c in cuts})
    return np.split(pcm, points)


@FUZZ
@given(st.binary(min_size=0, max_size=16000), st.lists(st.integers(0, 10_000), max_size=12))
def test_random_bytes_into_every_detector(raw: bytes, cuts: list[int]) -> None:
    pcm = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
    dtmf, cid, progress = DtmfDetector(), CallerIdDecoder(), CallProgressDetector()
    for frame in split(pcm, cuts):
        assert all(isinstance(h, DtmfHit) for h in dtmf.feed(frame))
        assert all(isinstance(m, CallerIdMessage) for m in cid.feed(frame))
        assert all(isinstance(e, ProgressEvent) for e in progress.feed(frame))
    assert all(isinstance(h, DtmfHit) for h in dtmf.flush())


@FUZZ
@given(st.binary(min_size=0, max_size=60), st.sampled_from([0x04, 0x80, 0x82, 0x06]), st.integers(0, 255))
def test_random_message_bodies_as_real_fsk(body: bytes, kind: int, length: int) -> None:
    message = bytes((kind, length)) + body
    message += bytes(((-sum(message)) & 0xFF,))
    pcm = np.concatenate((fsk_modulate(fsk_bits(message)), np.zeros(400, dtype=np.int16)))
    for msg in CallerIdDecoder().feed(pcm):
        assert msg.format in ("mdmf", "sdmf")
        assert isinstance(msg.checksum_ok, bool)


@FUZZ
@given(st.binary(min_size=0, max_size=300))
def test_parse_message_never_raises(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed is None or parsed.format in ("mdmf", "sdmf")


@FUZZ
@given(st.integers(-32768, 32767), st.integers(1, 4000))
def test_constant_and_clipped_input(value: int, count: int) -> None:
    pcm = np.full(count, value, dtype=np.int16)
    assert DtmfDetector().feed(pcm) == []
    assert CallerIdDecoder().feed(pcm) == []
    assert CallProgressDetector().feed(pcm) == []
