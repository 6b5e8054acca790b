"""Call edges never wait for the model: a lagging worker finishes the old call, and never warns the next caller."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect.detector import AbuseDetector
from edge.detect.model import KwsModel, default_model_path
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "kws"


def _positive_fixture() -> tuple[np.ndarray, dict[str, Any]]:
    expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    name, meta = next((n, e) for n, e in expected.items() if e is not None)
    pcm = np.concatenate([read_recording(FIXTURES / name), np.zeros(8000, np.int16)])
    return pcm, meta


class _StuckModel:
    """The shipped model, whose first inference hangs until released (a Pi busy with something else)."""

    def __init__(self, model: KwsModel) -> None:
        self.info = model.info
        self.path = model.path
        self.verifier = model.verifier
        self._model = model
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stuck = False

    def predict(self, window: np.ndarray) -> np.ndarray:
        if not self.entered.is_set():
            self.stuck = True
            self.entered.set()
            self.release.wait(timeout=60)
            self.stuck = False
        return self._model.predict(window)

    def verify(self, window: np.ndarray) -> np.ndarray:
        return self._model.verify(window)


class _Sink:
    """Clips as handed over, with the thread that handed them."""

    def __init__(self) -> None:
        self.saved: list[tuple[np.ndarray, dict[str, Any], str]] = []

    def save(self, clip: Any, meta: dict[str, Any]) -> None:
        self.saved.append((np.asarray(clip), meta, threading.current_thread().name))


def _feed(detector: AbuseDetector, pcm: np.ndarray, start_s: float = 0.0) -> None:
    for i in range(0, pcm.size - 159, 160):
        detector.feed(pcm[i : i + 160], start_s + i / 8000)


def _threaded(tmp_path: Path, model: Any, sink: _Sink) -> AbuseDetector:
    config = DetectionConfig(
        shouting_enabled=False,
        calibration_file=tmp_path / "calibration.json",
        queue_frames=2000,  # the whole call fits: this test is about call edges, not drops
    )
    return AbuseDetector(config, cast(KwsModel, model), sink)


def test_call_edges_do_not_wait_for_a_stuck_worker_and_its_late_words_never_reach_the_next_caller(
    tmp_path: Path,
) -> None:
    pcm, meta = _positive_fixture()
    model = _StuckModel(KwsModel(default_model_path()))
    sink = _Sink()
    detector = _threaded(tmp_path, model, sink)
    try:
        detector.reset()
        _feed(detector, pcm)
        assert model.entered.wait(timeout=30), "the worker never reached the model"
        # The worker hangs in its first inference with the whole call queued behind it. The call ends and
        # the next begins on the audio side all the same.
        began = time.monotonic()
        detector.end_call(staff_acted=False)
        detector.reset()
        _feed(detector, np.zeros(1600, np.int16), 100.0)
        assert detector.poll() == []
        # Microseconds of work; the bound only tells "did not wait" from a wait for the worker or a deadline.
        assert time.monotonic() - began < 2.0, "a call edge waited for the worker"
        assert model.stuck
        assert sink.saved == [] and not (tmp_path / "calibration.json").exists()

        model.release.set()
        assert detector.wait_idle(timeout=60)
        # The old call was scored to its end: its word was caught, but after that caller had gone.
        assert detector.poll() == []
        assert detector.late_detections >= 1
        assert detector.health()["late_detections"] == detector.late_detections
        assert detector.detections == []  # the current call (silence) has none
        # Its clip was kept with the old call's label, written by the worker, not the audio thread.
        assert sink.saved, "the old call's clip was lost"
        clip, clip_meta, thread = sink.saved[0]
        assert clip_meta["keyword"] == meta["keyword"] and clip_meta["label"] == "unconfirmed"
        assert thread == "abuse-detector" and 0 < clip.size <= detector.config.clip_s * 8000
        # Calibration learned the old call's caller speech, counted by the worker's VAD.
        state = json.loads((tmp_path / "calibration.json").read_text(encoding="utf-8"))
        assert state["calls"] == 1
        assert 0.5 < state["speech_h"] * 3600 <= pcm.size / 8000
    finally:
        detector.close()


def test_a_worker_that_keeps_up_reports_the_open_call_and_saves_at_its_end(tmp_path: Path) -> None:
    pcm, meta = _positive_fixture()
    sink = _Sink()
    detector = _threaded(tmp_path, KwsModel(default_model_path()), sink)
    try:
        for call in range(2):  # the second call shows the first one's state is gone
            detector.reset()
            _feed(detector, pcm, 10.0 * call)
            assert detector.wait_idle(timeout=60)
            events = detector.poll()
            assert [e.keyword for e in events if e.tier is Tier.WARN] == [meta["keyword"]]
            detector.staff_acted(10.0 * call + pcm.size / 8000, "warn")
            detector.end_call(staff_acted=True)
            assert detector.wait_idle(timeout=60)
            assert [m["label"] for _, m, _ in sink.saved] == ["confirmed"] * (call + 1)
        assert detector.late_detections == 0 and detector.dropped_frames == 0
        # Calls that staff acted on are not ordinary speech: nothing learned, nothing written.
        assert detector.calibrator.calls == 0
    finally:
        detector.close()


def test_close_still_finishes_a_call_that_ended_just_before(tmp_path: Path) -> None:
    pcm, _meta = _positive_fixture()
    sink = _Sink()
    detector = _threaded(tmp_path, KwsModel(default_model_path()), sink)
    detector.reset()
    _feed(detector, pcm)
    detector.end_call(staff_acted=False)
    detector.close()
    assert json.loads((tmp_path / "calibration.json").read_text(encoding="utf-8"))["calls"] == 1
    assert [m["label"] for _, m, _ in sink.saved] == ["unconfirmed"]


def test_an_inline_detector_that_is_never_polled_keeps_no_backlog_across_calls() -> None:
    pcm, meta = _positive_fixture()
    detector = AbuseDetector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False),
        KwsModel(default_model_path()),
    )
    for _ in range(3):  # as the CLI and the evaluation use it: read detections, never poll
        detector.reset()
        _feed(detector, pcm)
        assert [d.event.keyword for d in detector.detections if d.event.tier is Tier.WARN] == [
            meta["keyword"]
        ]
    assert len(detector._events) <= len(detector.detections)  # only the current call's
    assert [e.keyword for e in detector.poll() if e.tier is Tier.WARN] == [meta["keyword"]]
    assert detector.late_detections == 0
