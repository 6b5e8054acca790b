"""The per-call spectral balance: a caller's telephone colouring is estimated from the call and taken out."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.cli import read_recording
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.features import N_MELS, SpectralBalance, _mel, _mel_inv
from edge.detect.model import KwsModel, ModelError, default_model_path
from edge.detect.settings import DetectionConfig

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "kws"
sys.path.insert(0, str(ROOT / "models"))

from pipeline import handset  # noqa: E402


def test_a_steady_colouring_is_removed_as_the_call_goes_on_and_silence_teaches_nothing() -> None:
    reference = np.linspace(-6.0, -2.0, N_MELS).astype(np.float32)
    colouring = np.sin(np.arange(N_MELS) / 4.0).astype(np.float32) * 3.0  # a telephone, in log-mel
    balance = SpectralBalance(reference, prior_frames=100)
    rng = np.random.default_rng(0)
    silence = np.full(N_MELS, -13.8, np.float32)
    for _ in range(50):  # quiet line: not voiced, so no estimate and nothing changed
        assert np.array_equal(balance.correct(silence, voiced=False), silence)
    errors = []
    for n in range(1, 2001):
        frame = reference + colouring + rng.normal(0, 1.0, N_MELS).astype(np.float32)
        balance.correct(frame, voiced=True)
        if n in (10, 100, 2000):
            errors.append(float(np.abs(balance.offset - colouring).max()))
    # Shrunk at first (10 frames: about a tenth corrected), half at the prior, nearly all later.
    assert errors[0] > 2.4 and 1.2 < errors[1] < 1.9 and errors[2] < 0.3
    balance.reset()
    assert not balance.offset.any()


def test_a_dead_zone_leaves_small_shapes_and_level_alone_and_shortens_a_telephones_shape() -> None:
    reference = np.linspace(-6.0, -2.0, N_MELS).astype(np.float32)
    content = np.cos(np.arange(N_MELS) / 3.0).astype(np.float32) * 0.15  # what is said: a small shape
    telephone = np.sin(np.arange(N_MELS) / 4.0).astype(np.float32) * 3.0
    for shape, kept in ((content, 0.0), (telephone, None)):
        balance = SpectralBalance(reference, prior_frames=0, dead_zone=1.25)
        for _ in range(10):
            balance.correct(reference + shape + 2.0, voiced=True)  # 2.0: a level, which the model ignores
        offset = balance.offset - 2.0
        centred = shape - shape.mean()
        length = float(np.linalg.norm(centred))
        expected = centred * (kept if kept is not None else 1.0 - 1.25 / length)
        assert np.allclose(offset - offset.mean(), expected, atol=1e-4)
        assert abs(float(balance.offset.mean()) - 2.0 - float(shape.mean())) < 1e-4
    plain = SpectralBalance(reference, prior_frames=0)
    plain.correct(reference + content, voiced=True)
    assert np.allclose(plain.offset, content, atol=1e-5)  # without a dead zone every shape is taken out


def _ordinary_through_resonance(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ordinary fixture three times over, plain and through the resonating telephone."""
    speech = np.tile(read_recording(FIXTURES / "ordinary.wav"), 3)
    return speech, handset.through(
        speech, handset.fir(handset.RESPONSES["peak"]), np.random.default_rng(seed)
    )


def _balanced_detector(prior: int) -> AbuseDetector:
    """The shipped model inline with the spectral balance at ``prior``."""
    config = DetectionConfig(
        inline=True, shouting_enabled=False, calibration_enabled=False, balance_prior_frames=prior
    )
    detector, error = load_detector(config)
    assert detector is not None and detector._balance is not None, error
    return detector


def test_the_detector_estimates_a_resonating_handset_where_it_resonates(tmp_path: Path) -> None:
    speech, coloured = _ordinary_through_resonance(1)
    detector, plain = _balanced_detector(250), _balanced_detector(250)
    for d, pcm in ((detector, coloured), (plain, speech)):
        d.reset()
        for i in range(0, pcm.size - 159, 160):
            d.feed(pcm[i : i + 160], i / 8000)
    difference = detector._balance.offset - plain._balance.offset
    centres = _mel_inv(np.linspace(_mel(np.array(0.0)), _mel(np.array(4000.0)), N_MELS + 2))[1:-1]
    # The same speech through the 1.5 kHz resonance: the estimate rises most in the bands around it.
    assert 1000 < centres[int(np.argmax(difference))] < 2200
    assert float(difference.max() - np.median(difference)) > 0.5
    # A new call forgets the telephone of the last.
    detector.reset()
    assert not detector._balance.offset.any()


def _model_copy(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    src = default_model_path()
    for name in (src.name, src.with_suffix(".json").name, "kws_verifier.tflite"):
        if (src.parent / name).exists():
            shutil.copy(src.parent / name, tmp_path / name)
    meta_path = tmp_path / src.with_suffix(".json").name
    return tmp_path / src.name, meta_path, json.loads(meta_path.read_text(encoding="utf-8"))


def test_the_balance_runs_as_the_model_was_priced_unless_the_config_says_otherwise(tmp_path: Path) -> None:
    model, meta_path, meta = _model_copy(tmp_path)
    assert len(meta["front_end"]["speech_mean"]) == N_MELS  # the shipped model carries its reference

    def box(**settings: Any) -> AbuseDetector:
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        return AbuseDetector(DetectionConfig(inline=True, **settings), KwsModel(model))

    meta["front_end"].pop("balance_prior_frames", None)
    priced_without = box()
    assert priced_without._balance is None  # a model priced without the balance runs without it
    assert priced_without.health()["balance_prior_frames"] == 0
    meta["front_end"]["balance_prior_frames"] = 250
    priced_with = box()
    assert priced_with._balance is not None and priced_with._balance.prior == 250
    assert priced_with.health()["balance_prior_frames"] == 250
    assert priced_with._balance.dead_zone == 0.0  # none priced, none run
    off = box(balance_prior_frames=0)
    assert off._balance is None and off.health()["model_balance_prior_frames"] == 250
    other = box(balance_prior_frames=100)
    assert other._balance is not None and other._balance.prior == 100
    meta["front_end"]["balance_dead_zone"] = 1.25
    zoned = box()
    assert zoned._balance is not None and zoned._balance.dead_zone == 1.25
    assert zoned.health()["balance_dead_zone"] == 1.25
    unzoned = box(balance_dead_zone=0.0)
    assert unzoned._balance is not None and unzoned._balance.dead_zone == 0.0


def test_a_model_without_a_reference_has_no_balance_and_a_bad_setting_is_refused(tmp_path: Path) -> None:
    model, meta_path, meta = _model_copy(tmp_path)
    del meta["front_end"]["speech_mean"]
    meta["front_end"].pop("balance_prior_frames", None)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    older = AbuseDetector(DetectionConfig(inline=True, balance_prior_frames=250), KwsModel(model))
    assert older._balance is None
    meta["front_end"]["balance_prior_frames"] = 250  # priced with a balance it has no reference for
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match=r"needs front_end\.speech_mean"):
        KwsModel(model)
    meta["front_end"]["speech_mean"] = [0.0] * N_MELS
    for bad in (-1, 2.5, "250", True, 10**6):
        meta["front_end"]["balance_prior_frames"] = bad
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        with pytest.raises(ModelError, match="balance_prior_frames"):
            KwsModel(model)
    meta["front_end"]["balance_prior_frames"] = 250
    for bad in (-0.5, 21.0, "1", True):
        meta["front_end"]["balance_dead_zone"] = bad
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        with pytest.raises(ModelError, match="balance_dead_zone"):
            KwsModel(model)
    del meta["front_end"]["balance_dead_zone"]
    meta["front_end"]["balance_prior_frames"] = 0
    meta["front_end"]["speech_mean"] = [0.0] * (N_MELS - 1)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="speech_mean"):
        KwsModel(model)


def test_a_stream_scored_in_calls_is_each_call_scored_alone_at_its_place() -> None:
    from pipeline.evaluate import call_traces, traces

    speech, stream = _ordinary_through_resonance(2)
    detector = _balanced_detector(50)
    call = speech.size // 3  # three calls, the balance (and the VAD) learning afresh in each
    t, s1, _v = call_traces(detector, stream, call / 8000)
    t_alone, s1_alone, _ = traces(detector, stream[call : 2 * call])
    second = (t > call / 8000) & (t <= 2 * call / 8000)  # a hop is stamped at its end
    assert np.allclose(t[second], t_alone + call / 8000)
    assert np.allclose(s1[second], s1_alone)
    # One long call carries the first call's balance into the second: other scores there.
    t_one, s1_one, _ = call_traces(detector, stream, 0.0)
    assert np.allclose(t_one, t) and not np.allclose(s1_one[second], s1[second])
