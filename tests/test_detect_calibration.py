"""Self-calibration raises a class's thresholds until ordinary speech stays under target, never below shipped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect.calibration import MAX_LEAD, Calibrator, just_above, times_odds
from edge.detect.cli import feed
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


def test_an_episode_set_aside_as_music_is_not_learned_but_the_next_one_is() -> None:
    cal = _calibrator()
    for score in (0.3, 0.5):  # rising towards the threshold: an open episode
        cal.observe({"a": score, "b": 0.0})
    cal.set_aside(["a"])  # the detector took this stretch for music
    for score in (0.5, 0.3, 0.0, 0.55, 0.1):  # the rest of it is skipped; after a fall, a new episode
        cal.observe({"a": score, "b": 0.0})
    cal.end_call(staff_acted=False, caller_speech_s=600)
    assert cal.peaks["a"] == [0.55]


def test_the_budget_is_the_tiers_not_each_classs() -> None:
    """Two classes that each fired once in 10 h: the alert tier may fire once (0.1/h), not once per class."""
    cal = _calibrator()
    _call(cal, [0.7], "a")
    _call(cal, [0.65], "b")
    cal.end_call(staff_acted=False, caller_speech_s=10 * 3600)
    alert = cal.thresholds[Tier.ALERT]
    fired = sum(peak >= alert[name] for name, peaks in cal.peaks.items() for peak in peaks)
    assert fired == 1
    # The budget goes to the peak that would need the larger raise; the other class is raised above its own.
    assert alert["a"] == 0.6 and alert["b"] == pytest.approx(just_above(0.65))


def test_lead_shrinks_as_the_box_hears_more() -> None:
    shipped = {Tier.ALERT: {"a": 0.9}, Tier.WARN: {"a": 0.99}}
    cal = Calibrator(shipped, {Tier.ALERT: 0.1, Tier.WARN: 0.01}, 0.99995, tail_scales={Tier.WARN: 0.5})
    cal.speech_h = 0.01
    assert cal.lead(Tier.WARN) == MAX_LEAD  # a few seconds heard: capped
    cal.speech_h = 25.0
    assert cal.lead(Tier.WARN) == pytest.approx(2.0)  # (100 h / 25 h) ** 0.5
    cal.speech_h = 150.0
    assert cal.lead(Tier.WARN) == 1.0  # the target period heard: only firings count
    assert cal.lead(Tier.ALERT) == 1.0  # no tail scale for the alert tier
    assert cal.state()["lead"] == {"alert": 1.0, "warn": 1.0}


def test_lead_raises_a_class_its_speech_comes_close_to_before_it_fires() -> None:
    shipped = {Tier.ALERT: {"a": 0.9}, Tier.WARN: {"a": 0.99}}
    targets = {Tier.ALERT: 0.1, Tier.WARN: 0.01}
    tails = {Tier.WARN: math.log(4) / math.log(100)}  # a lead of 4 after 1 h (the target period is 100 h)
    cal = Calibrator(shipped, targets, 0.99995, tail_scales=tails)
    # 0.97 has a third of 0.99's odds: within the lead of the warning tier, though it did not fire there.
    _call(cal, [0.97])
    cal.end_call(staff_acted=False, caller_speech_s=3600)
    assert cal.lead(Tier.WARN) == pytest.approx(4.0)
    warn = cal.thresholds[Tier.WARN]["a"]
    # The raise keeps the peak the lead (and the usual step) below the new threshold.
    assert warn == pytest.approx(just_above(times_odds(0.97, 4.0)))
    # A peak further below than the lead teaches nothing.
    far = Calibrator(shipped, targets, 0.99995, tail_scales=tails)
    _call(far, [0.95])
    far.end_call(staff_acted=False, caller_speech_s=3600)
    assert far.thresholds[Tier.WARN]["a"] == 0.99
    # Without a tail scale only firings count, as before.
    plain = Calibrator(shipped, targets, 0.99995)
    _call(plain, [0.97])
    plain.end_call(staff_acted=False, caller_speech_s=3600)
    assert plain.thresholds[Tier.WARN]["a"] == 0.99
    # With the target period heard and nothing closer, the lead is spent: back to the shipped value.
    cal.end_call(staff_acted=False, caller_speech_s=120 * 3600)
    assert cal.lead(Tier.WARN) == 1.0 and cal.thresholds[Tier.WARN]["a"] == 0.99


@pytest.mark.parametrize("tail", [0.0, 0.5])
def test_learned_thresholds_keep_every_tier_within_budget_on_random_peaks(tail: float) -> None:
    rng = np.random.default_rng(5)
    shipped = {Tier.ALERT: {c: 0.8 for c in "abcd"}, Tier.WARN: {c: 0.95 for c in "abcd"}}
    targets = {Tier.ALERT: 0.1, Tier.WARN: 0.01}
    cal = Calibrator(shipped, targets, 0.99995, tail_scales={Tier.ALERT: tail, Tier.WARN: tail})
    for _ in range(40):
        for name in "abcd":
            _call(cal, list(1.0 / (1.0 + np.exp(-rng.normal(0.0, 2.5, size=3)))), name)
        cal.end_call(staff_acted=False, caller_speech_s=3 * 3600)
        for tier, values in cal.thresholds.items():
            allowed = int(targets[tier] * cal.speech_h)
            fired = sum(p >= values[n] for n, peaks in cal.peaks.items() for p in peaks)
            assert fired <= allowed
            assert all(values[n] >= shipped[tier][n] for n in values)


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
    running = detector.health()["balance_prior_frames"]
    assert saved["model"] == detector.model.info.sha256 + (f"+balance{running}" if running else "")
    # The same network with the spectral balance switched scores otherwise: the state is learned again.
    switched, error = load_detector(config.model_copy(update={"balance_prior_frames": 0 if running else 250}))
    assert switched is not None, error
    assert switched.health()["calibration"]["calls"] == 0 and switched.calibrator.restarted


@pytest.mark.parametrize("tail", [0.0, 0.4])
def test_real_detector_raises_a_warning_threshold_its_speech_came_close_to(
    tmp_path: Path, tail: float
) -> None:
    """Warning thresholds just above the ordinary fixture's peaks: no warning, yet a new box raises them."""
    pcm = read_recording(FIXTURES / "ordinary.wav")
    probe, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert probe is not None, error
    probe.trace = []
    feed(probe, [pcm])
    peaks = np.max([scores for _t, scores in probe.trace], axis=0)[1:]
    top = probe.classes[int(np.argmax(peaks))]
    highest: dict[str, float] = {}
    for cls, peak in zip(probe.classes, peaks, strict=True):
        highest[cls.category] = max(highest.get(cls.category, 0.0), float(peak))
    # Twice the odds of each category's highest peak: not reached, and within a new box's lead (8).
    warn = {category: times_odds(peak, 2.0) for category, peak in highest.items()}
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        alert_thresholds=warn,
        warn_thresholds=warn,
        warn_calibration_tail=tail,
    )
    detector, error = load_detector(config)
    assert detector is not None, error
    feed(detector, [pcm])
    assert not [d for d in detector.poll() if d.tier == Tier.WARN]
    detector.end_call(staff_acted=False, caller_speech_s=detector.speech_s)
    raised = detector.health()["calibration"]["raised"]["warn"]
    if tail == 0.0:
        assert raised == {}  # only warnings given count
    else:
        assert top.id in raised and raised[top.id] > warn[top.category]
