"""The streaming detector off the audio path: worker thread, bounded queue, clips, shouting cue, health."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.features import (
    LINE_BAND_HZ,
    BandPass,
    FeatureHistory,
    StreamingLogMel,
    butterworth_band_sos,
    logmel,
)
from edge.detect.model import KwsModel, default_model_path
from edge.detect.settings import DetectionConfig
from edge.detect.shouting import ShoutingCue
from edge.ports import Pcm

ROOT = Path(__file__).resolve().parents[1]
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


def test_band_pass_front_end_streams_like_the_batch_one_whatever_the_chunking() -> None:
    rng = np.random.default_rng(3)
    pcm = (rng.standard_normal(8000) * 3000).astype(np.int16)
    whole = logmel(pcm, LINE_BAND_HZ)
    assert not np.allclose(whole, logmel(pcm), atol=1e-2)  # the filter changes the features
    # The filter carries its state from chunk to chunk: exactly for whole hops, to rounding for odd chunks.
    audio = pcm.astype(np.float64) / 32768.0
    whole_audio = BandPass(LINE_BAND_HZ).filter(audio)
    hopped, odd_sized = BandPass(LINE_BAND_HZ), BandPass(LINE_BAND_HZ)
    by_hop = [hopped.filter(audio[i : i + 320]) for i in range(0, audio.size, 320)]
    by_odd = [odd_sized.filter(audio[i : i + 97]) for i in range(0, audio.size, 97)]
    assert np.array_equal(np.concatenate(by_hop), whole_audio)
    assert np.allclose(np.concatenate(by_odd), whole_audio, rtol=0, atol=1e-6)
    general, fast = StreamingLogMel(LINE_BAND_HZ), StreamingLogMel(LINE_BAND_HZ)
    odd = np.concatenate([general.push(pcm[i : i + 160]) for i in range(0, pcm.size, 160)])
    hops = np.stack([fast.push_frame(pcm[i : i + 160]) for i in range(0, pcm.size, 160)])
    assert np.array_equal(odd, hops)
    # Framed in other batch shapes than the whole clip: FFT rounding only, as without the filter.
    assert np.allclose(hops, whole, atol=1e-4)
    # A new call starts from a quiet filter, as each training clip did.
    fast.reset()
    again = np.stack([fast.push_frame(pcm[i : i + 160]) for i in range(0, 1600, 160)])
    assert np.array_equal(again, hops[:10])


def test_band_pass_is_scipys_butterworth_design_without_importing_scipy() -> None:
    from scipy.signal import butter, sosfilt, sosfreqz

    reference = butter(4, LINE_BAND_HZ, btype="bandpass", fs=8000, output="sos")
    ours = butterworth_band_sos(LINE_BAND_HZ)
    _, response = sosfreqz(ours, 256, fs=8000)
    _, expected = sosfreqz(reference, 256, fs=8000)
    assert np.allclose(response, expected, rtol=0, atol=1e-9)
    audio = np.random.default_rng(4).standard_normal(4000) * 0.2
    assert np.allclose(
        BandPass((250.0, 3600.0)).filter(audio),
        sosfilt(butter(4, (250, 3600), "bandpass", fs=8000, output="sos"), audio),
        atol=1e-6,
    )
    # The appliance's detector never loads scipy for it (about 75 MiB of memory on a Pi).
    probe = "import sys; from edge.detect.features import BandPass, LINE_BAND_HZ; BandPass(LINE_BAND_HZ); print('scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"


def _tone_level_db(band: BandPass | None, hz: float) -> float:
    t = np.arange(8000) / 8000
    pcm = (np.sin(2 * np.pi * hz * t) * 10000).astype(np.int16)
    out = band.filter(pcm.astype(np.float64)) if band else pcm.astype(np.float64)
    return float(10 * np.log10(np.mean(np.asarray(out[4000:], dtype=np.float64) ** 2)))


def test_band_pass_keeps_the_telephone_band_and_removes_what_lies_outside_it() -> None:
    for hz, least, most in ((100.0, -99.0, -25.0), (1000.0, -0.5, 0.5), (3800.0, -99.0, -12.0)):
        loss = _tone_level_db(BandPass(LINE_BAND_HZ), hz) - _tone_level_db(None, hz)
        assert least <= loss <= most, (hz, loss)


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
        pcm = np.concatenate([read_recording(FIXTURES / POSITIVE), np.zeros(8000, np.int16)])
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
        detector.end_call(staff_acted=True)
        assert detector.wait_idle()
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
    ordinary = read_recording(FIXTURES / "ordinary.wav")
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


class _ScriptedModel:
    """The shipped model's metadata with scripted posteriors: the n-th inference returns script[n]."""

    def __init__(self, script: list[dict[str, float]]) -> None:
        model = KwsModel(default_model_path())
        self.info, self.path, self.verifier = model.info, model.path, None
        self._names = [c.id for c in model.info.classes]
        self._script = script
        self.calls = 0

    def predict(self, window: np.ndarray) -> np.ndarray:
        scores = self._script[min(self.calls, len(self._script) - 1)]
        self.calls += 1
        out = np.zeros(len(self._names) + 1, dtype=np.float32)
        for name, value in scores.items():
            out[1 + self._names.index(name)] = value
        out[0] = 1.0 - out[1:].sum()
        return out


def _run_script(script: list[dict[str, float]], hold: int) -> list[tuple[float, Tier, str, float]]:
    """Feed a detector whose model says ``script`` one inference per 100 ms hop (no speech gate)."""
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        calibration_enabled=False,
        smoothing_hops=1,
        vad_min_speech_frames=0,
        alert_hold_hops=hold,
        alert_thresholds={"profanity": 0.5, "threat": 0.5, "sexual": 0.5},
        warn_thresholds={"profanity": 0.8, "threat": 0.8, "sexual": 0.8},
    )
    model = _ScriptedModel(script)
    detector = AbuseDetector(config, cast(KwsModel, model))
    silence = np.zeros(160, dtype=np.int16)  # the scripted model ignores what it hears
    for i in range(0, 5 * 160 * len(script), 160):  # exactly one hop per script entry
        detector.feed(silence, i / 8000)
    assert model.calls == len(script)
    return [(round(d.t, 2), d.event.tier, d.event.keyword, d.event.score) for d in detector.detections]


def test_a_word_rising_through_both_tiers_is_one_warning_not_an_alert_then_a_warning() -> None:
    rising = [{}, {"ssibal": 0.6}, {"ssibal": 0.9}, {"ssibal": 0.95}, {}, {}]
    # Without the hold, one word gives staff an alert and 100 ms later the caller a warning.
    assert [(t, tier) for t, tier, _k, _s in _run_script(rising, hold=0)] == [
        (0.2, Tier.ALERT),
        (0.3, Tier.WARN),
    ]
    # With it (the default two hops), only the warning, at the same moment.
    assert DetectionConfig().alert_hold_hops == 2
    assert _run_script(rising, hold=2) == [(0.3, Tier.WARN, "ssibal", 0.9)]
    # Two hops later still folds into the warning; three hops later the alert has been reported.
    slow = [{}, {"ssibal": 0.6}, {"ssibal": 0.7}, {"ssibal": 0.9}, {}]
    assert [tier for _t, tier, _k, _s in _run_script(slow, hold=2)] == [Tier.WARN]
    slower = [{}, {"ssibal": 0.6}, {"ssibal": 0.7}, {"ssibal": 0.7}, {"ssibal": 0.9}, {}]
    assert [tier for _t, tier, _k, _s in _run_script(slower, hold=2)] == [Tier.ALERT, Tier.WARN]


def test_an_alert_only_word_is_reported_after_the_hold_with_its_best_score() -> None:
    # Crosses the alert tier at 0.2 s, peaks at 0.3 s, falls back: one alert, two hops later.
    script = [{}, {"jugyeo": 0.55}, {"jugyeo": 0.7}, {"jugyeo": 0.2}, {}, {}, {}]
    assert _run_script(script, hold=2) == [(0.4, Tier.ALERT, "jugyeo", 0.7)]
    assert _run_script(script, hold=0) == [(0.2, Tier.ALERT, "jugyeo", 0.55)]
    # Two classes are held and reported apart; the refractory time still holds per class and tier.
    both = [{"ssibal": 0.6, "momae": 0.6}, {}, {}, {"ssibal": 0.6}, {}, {}, {}]
    got = _run_script(both, hold=2)
    assert sorted((t, k) for t, _tier, k, _s in got) == [(0.3, "momae"), (0.3, "ssibal")]
