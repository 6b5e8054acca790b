"""The streaming detector off the audio path: worker thread, bounded queue, clips, shouting cue, health."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.events import Tier
from edge.detect.cli import read_wav
from edge.detect.detector import load_detector
from edge.detect.features import FeatureHistory, StreamingLogMel, logmel
from edge.detect.settings import DetectionConfig
from edge.detect.shouting import ShoutingCue
from edge.ports import Pcm

FIXTURES = Path(__file__).parent / "fixtures" / "kws"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
POSITIVE = next(n for n, e in EXPECTED.items() if e is not None)


class ListSink:
    """A ClipSink that keeps what it is given."""

    def __init__(self) -> None:
        self.saved: list[tuple[Pcm, dict[str, Any]]] = []

    def save(self, clip: Pcm, meta: dict[str, Any]) -> None:
        self.saved.append((clip, meta))


def test_streaming_front_end_equals_batch() -> None:
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(8000) * 3000).astype(np.int16)
    stream = StreamingLogMel()
    parts = [stream.push(pcm[i : i + 97]) for i in range(0, pcm.size, 97)]
    assert np.allclose(np.concatenate(parts), logmel(pcm), atol=1e-4)


def test_one_frame_path_gives_the_same_numbers_as_push() -> None:
    rng = np.random.default_rng(2)
    pcm = (rng.standard_normal(4000) * 3000).astype(np.int16)
    general, fast = StreamingLogMel(), StreamingLogMel()
    slow = np.concatenate([general.push(pcm[i : i + 160]) for i in range(0, pcm.size, 160)])
    quick = np.stack([fast.push_frame(pcm[i : i + 160]) for i in range(0, pcm.size, 160)])
    assert np.array_equal(slow, quick)
    # After an odd-sized push the one-frame path falls back to the general one and stays exact.
    general.push(pcm[:37])
    fast.push(pcm[:37])
    assert np.array_equal(general.push(pcm[37:197])[0], fast.push_frame(pcm[37:197]))


def test_feature_history_keeps_the_newest_frames_in_order_across_slides() -> None:
    history = FeatureHistory(8, spare=1)
    floor = np.log(np.float32(1e-6))
    assert np.all(history.last(8) == floor)
    for i in range(37):  # several slides of a 16-row buffer
        history.append(np.full(32, i, dtype=np.float32))
        window = history.last(8)
        expected = [max(j, -1) for j in range(i - 7, i + 1)]
        assert [float(r[0]) if r[0] != floor else -1 for r in window] == expected
    assert [float(r[0]) for r in history.last(3)] == [34.0, 35.0, 36.0]


def test_shouting_cue_counts_loud_frames_in_a_sliding_two_seconds() -> None:
    cue = ShoutingCue(level_dbfs=-12.0, over_median_db=6.0, min_s=0.8)
    loud = np.full(160, 16000, dtype=np.int16)  # about -6 dBFS
    quiet = np.full(160, 300, dtype=np.int16)
    # 39 loud frames spread so no 2 s window holds 40: never a shout.
    for _ in range(3):
        for _ in range(39):
            assert cue.push(loud, True) is None
        for _ in range(61):
            assert cue.push(quiet, True) is None
    hits = [cue.push(loud, True) for _ in range(40)]
    assert hits[:-1] == [None] * 39 and hits[-1] is not None and abs(hits[-1] + 6.2) < 0.1


def test_worker_thread_detects_and_clip_is_labelled_on_call_end() -> None:
    sink = ListSink()
    detector, error = load_detector(DetectionConfig(shouting_enabled=False, calibration_enabled=False), sink)
    assert detector is not None, error
    try:
        pcm = np.concatenate([read_wav(FIXTURES / POSITIVE), np.zeros(8000, np.int16)])
        detector.reset()
        began = time.perf_counter()
        for i in range(0, pcm.size, 160):
            detector.feed(pcm[i : i + 160], i / 8000)
        feed_s = time.perf_counter() - began
        # feed() only enqueues: the whole clip is handed over far faster than it plays.
        assert feed_s < 0.25 * pcm.size / 8000
        deadline = time.monotonic() + 20
        events = []
        while time.monotonic() < deadline and not any(e.tier is Tier.WARN for e in events):
            events += detector.poll()
            time.sleep(0.02)
        assert any(e.tier is Tier.WARN and e.keyword == EXPECTED[POSITIVE]["keyword"] for e in events)
        assert sink.saved == []  # clips wait for the staff's verdict
        detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
        assert sink.saved
        clip, meta = sink.saved[0]
        # The 2 s before the detection, or all of the call so far when it came sooner.
        assert clip.dtype == np.int16 and clip.size == min(16000, round(meta["t"] * 8000))
        assert meta["label"] == "confirmed" and meta["keyword"] == EXPECTED[POSITIVE]["keyword"]
        health = detector.health()
        assert health["clips"]["confirmed"] == len(sink.saved)
        assert health["inferences"] > 0 and set(health["thresholds"]) == {"alert", "warn"}
    finally:
        detector.close()


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    detector, _ = load_detector(DetectionConfig(queue_frames=10, shouting_enabled=False))
    assert detector is not None
    try:
        frame = (np.random.default_rng(2).standard_normal(160) * 4000).astype(np.int16)
        began = time.perf_counter()
        for i in range(3000):
            detector.feed(frame, i * 0.02)
        assert time.perf_counter() - began < 2.0
        assert detector.dropped_frames > 0
        assert detector.health()["dropped_frames"] == detector.dropped_frames
    finally:
        detector.close()


def test_shouting_only_alerts_staff() -> None:
    ordinary = read_wav(FIXTURES / "ordinary.wav")
    loud = np.clip(ordinary.astype(np.int32) * 30, -32768, 32767).astype(np.int16)
    detector, _ = load_detector(DetectionConfig(inline=True, calibration_enabled=False))
    assert detector is not None
    detector.reset()
    pcm = np.concatenate([ordinary, loud])
    for i in range(0, pcm.size, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    events = detector.poll()
    shouts = [e for e in events if e.source == "shouting"]
    assert shouts, "speech 30 dB louder than the call's usual level should count as shouting"
    assert all(e.tier is Tier.ALERT for e in shouts)
    assert min(d.t for d in detector.detections if d.event.source == "shouting") > ordinary.size / 8000
