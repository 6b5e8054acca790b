"""Self-calibration raises a class's thresholds until ordinary speech stays under target, never below shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect.calibration import Calibrator
from edge.detect.detector import load_detector
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "kws"


def _calibrator(tmp_path: Path | None = None) -> Calibrator:
    shipped = {Tier.ALERT: {"a": 0.6, "b": 0.6}, Tier.WARN: {"a": 0.9, "b": 0.9}}
    targets = {Tier.ALERT: 0.1, Tier.WARN: 0.01}
    return Calibrator(shipped, targets, 0.995, tmp_path / "cal.json" if tmp_path else None)


def _call(cal: Calibrator, peaks: list[float], cls: str = "a") -> None:
    for peak in peaks:
        cal.observe({cls: peak})
        cal.observe({cls: 0.0})


def test_rule_raises_until_under_target_and_relaxes_only_to_shipped(tmp_path: Path) -> None:
    cal = _calibrator(tmp_path)
    # One hour of ordinary speech in which class a peaked at 0.7 and 0.95: both tiers over target.
    # The new threshold is a fifth of the way from the peak to 1 (a margin in odds): 0.95 -> 0.96.
    _call(cal, [0.7, 0.95, 0.3])
    cal.end_call(staff_acted=False, caller_speech_s=3600)
    assert cal.thresholds[Tier.ALERT]["a"] == pytest.approx(0.96)
    assert cal.thresholds[Tier.WARN]["a"] == pytest.approx(0.96)
    assert cal.thresholds[Tier.ALERT]["b"] == 0.6  # untouched class
    # After 20 more quiet hours the alert tier may fire twice (0.1/h * 21 h): back to shipped, not below.
    for _ in range(20):
        cal.end_call(staff_acted=False, caller_speech_s=3600)
    assert cal.thresholds[Tier.ALERT]["a"] == 0.6
    assert cal.thresholds[Tier.WARN]["a"] == pytest.approx(0.96)  # 0.01/h * 21 h still allows none
    # A call the staff acted on is not ordinary speech: it teaches nothing.
    _call(cal, [0.99])
    cal.end_call(staff_acted=True, caller_speech_s=600)
    assert cal.thresholds[Tier.WARN]["a"] == pytest.approx(0.96)
    # State survives a restart (scores and hours only).
    again = _calibrator(tmp_path)
    assert again.thresholds == cal.thresholds
    saved = json.loads((tmp_path / "cal.json").read_text())
    assert set(saved) == {"model", "speech_h", "calls", "peaks"}


def test_a_state_learned_with_another_model_is_set_aside(tmp_path: Path) -> None:
    shipped = {Tier.ALERT: {"a": 0.6}, Tier.WARN: {"a": 0.9}}
    targets = {Tier.ALERT: 0.1, Tier.WARN: 0.01}
    old = Calibrator(shipped, targets, 0.995, tmp_path / "cal.json", model_id="aaaa" * 16)
    _call(old, [0.95])
    old.end_call(staff_acted=False, caller_speech_s=3600)
    assert old.thresholds[Tier.WARN]["a"] > 0.9
    # The same model after a restart keeps what it learned.
    same = Calibrator(shipped, targets, 0.995, tmp_path / "cal.json", model_id="aaaa" * 16)
    assert same.thresholds == old.thresholds and same.restarted is None
    # A new model's scores are not the old one's: its thresholds start from its own shipped values.
    new = Calibrator(shipped, targets, 0.995, tmp_path / "cal.json", model_id="bbbb" * 16)
    assert new.thresholds[Tier.WARN]["a"] == 0.9 and new.speech_h == 0.0
    assert new.restarted and "aaaaaaaaaaaa" in new.restarted and new.state()["restarted"] == new.restarted
    assert (tmp_path / "cal.aaaaaaaaaaaa.json").exists() and not (tmp_path / "cal.json").exists()
    _call(new, [0.92])
    new.end_call(staff_acted=False, caller_speech_s=3600)
    assert json.loads((tmp_path / "cal.json").read_text())["model"] == "bbbb" * 16
    # A state written before states named their model is kept (it can only be the model it ran with).
    (tmp_path / "cal.json").write_text(json.dumps({"speech_h": 1.0, "calls": 1, "peaks": {"a": [0.95]}}))
    legacy = Calibrator(shipped, targets, 0.995, tmp_path / "cal.json", model_id="cccc" * 16)
    assert legacy.speech_h == 1.0 and legacy.thresholds[Tier.WARN]["a"] > 0.9


def test_ceiling_bounds_the_raise() -> None:
    cal = _calibrator()
    _call(cal, [0.999])
    cal.end_call(staff_acted=False, caller_speech_s=60)
    assert cal.thresholds[Tier.WARN]["a"] == 0.995


def test_a_shipped_threshold_above_the_ceiling_is_never_lowered() -> None:
    shipped = {Tier.ALERT: {"a": 0.998}, Tier.WARN: {"a": 0.999}}
    cal = Calibrator(shipped, {Tier.ALERT: 0.1, Tier.WARN: 0.01}, 0.995, None)
    _call(cal, [0.9995])
    cal.end_call(staff_acted=False, caller_speech_s=60)
    assert cal.thresholds[Tier.ALERT]["a"] == 0.998
    assert cal.thresholds[Tier.WARN]["a"] == 0.999


def test_corrupt_state_file_falls_back_to_shipped(tmp_path: Path) -> None:
    (tmp_path / "cal.json").write_text("garbage", encoding="utf-8")
    cal = _calibrator(tmp_path)
    assert cal.thresholds[Tier.WARN]["a"] == 0.9
    assert cal.state()["error"] and "ignored" in cal.state()["error"]


def test_real_detector_learns_from_ordinary_speech_that_trips_a_class(tmp_path: Path) -> None:
    """Shipped thresholds set absurdly low trip on ordinary speech; calls with no staff action raise them."""
    pcm = read_recording(FIXTURES / "ordinary.wav")
    low = {"profanity": 0.02, "threat": 0.02, "sexual": 0.02}
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        alert_thresholds=low,
        warn_thresholds=low,
        calibration_file=tmp_path / "cal.json",
    )
    detector, error = load_detector(config)
    assert detector is not None, error

    def one_call() -> int:
        detector.reset()
        for i in range(0, pcm.size, 160):
            detector.feed(pcm[i : i + 160], i / 8000)
        fired = len(detector.poll())
        detector.end_call(staff_acted=False, caller_speech_s=detector.speech_s)
        return fired

    first = one_call()
    assert first > 0, "with 0.02 thresholds ordinary speech should trip some class"
    raised = detector.health()["calibration"]["raised"]
    assert raised["alert"] and raised["warn"]
    for tier in ("alert", "warn"):
        for value in detector.health()["thresholds"][tier].values():
            assert value >= 0.02
    # The same speech again: the raised thresholds now keep it under target (no firing at all here).
    assert one_call() == 0
    assert detector.health()["calibration"]["calls"] == 2
    saved = json.loads((tmp_path / "cal.json").read_text())
    assert saved["model"] == detector.model.info.sha256
