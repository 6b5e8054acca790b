"""The streaming abuse detector: VAD-gated keyword spotting on the caller leg, off the audio path."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import webrtcvad

from edge.core.events import SCORE_DECIMALS, AbuseDetected, Category, Tier
from edge.detect.calibration import Calibrator
from edge.detect.features import (
    HOP,
    WINDOW_FRAMES,
    FeatureHistory,
    SpectralBalance,
    StreamingLogMel,
    model_input,
)
from edge.detect.model import KwsModel, ModelError, ModelInfo, default_model_path
from edge.detect.settings import DetectionConfig
from edge.detect.shouting import ShoutingCue
from edge.dsp.tonality import steady_share
from edge.ports import SAMPLE_RATE, Pcm

log = logging.getLogger("lineguard.detect")
FRAME_S = HOP / SAMPLE_RATE


class ClipSink(Protocol):
    """Where alert clips go (the lead wires it to the sealed recordings); called off the audio path."""

    def save(self, clip: Pcm, meta: dict[str, Any]) -> None:
        """Keep one 8 kHz clip; ``meta`` carries keyword, category, tier, score, time and the staff label."""


@dataclass(frozen=True)
class Detection:
    """One reported detection with its time on the fed stream (seconds)."""

    event: AbuseDetected
    t: float
    start_s: float


@dataclass
class _PendingClip:
    clip: Pcm
    meta: dict[str, Any]


@dataclass(frozen=True)
class _StaffMark:
    """A staff warning or cut at time ``t``, queued behind the audio that preceded it."""

    t: float
    action: str


@dataclass(frozen=True)
class _CallStart:
    """A new call begins: queued, so the previous call's audio is finished first."""

    generation: int


@dataclass(frozen=True)
class _CallEnd:
    """The call ended: calibration and the call's clips, once the worker has scored all of its audio."""

    staff_acted: bool
    caller_speech_s: float | None
    keep_clips: bool


_Item = tuple[Pcm, float] | _StaffMark | _CallStart | _CallEnd | None


def balance_prior(config: DetectionConfig, info: ModelInfo) -> int:
    """The spectral balance prior the detector runs: the config's when set, else the model's own (the one its
    thresholds were priced with)."""
    return info.balance_prior_frames if config.balance_prior_frames is None else config.balance_prior_frames


def balance_dead_zone(config: DetectionConfig, info: ModelInfo) -> float:
    """The spectral balance's dead zone the detector runs: the config's when set, else the model's own."""
    return info.balance_dead_zone if config.balance_dead_zone is None else config.balance_dead_zone


class AbuseDetector:
    """Feed caller-leg audio; poll for AbuseDetected events. Inference runs in a worker thread (or inline).

    The caller's side (the audio pump) never waits: frames, staff actions and call edges are queued in
    order, and the worker does the scoring, the call's calibration and the sealing of its clips.
    """

    def __init__(self, config: DetectionConfig, model: KwsModel, clip_sink: ClipSink | None = None) -> None:
        self.config = config
        self.model = model
        self.clip_sink = clip_sink
        self.classes = model.info.classes
        self._names = [c.id for c in self.classes]
        shipped = {
            Tier.ALERT: self._resolve(model.info.alert, config.alert_thresholds),
            Tier.WARN: self._resolve(model.info.warn, config.warn_thresholds),
        }
        prior, dead_zone = balance_prior(config, model.info), balance_dead_zone(config, model.info)
        self._balance = (
            SpectralBalance(np.array(model.info.speech_mean, np.float32), prior, dead_zone)
            if model.info.speech_mean is not None and prior > 0
            else None
        )
        # The kept peaks are this network's scores as this front end makes them: with the balance on they
        # are other scores, so a state learned without it (or with another prior) is learned again.
        scored_by = model.info.sha256 + (f"+balance{prior}" if self._balance is not None else "")
        if self._balance is not None and dead_zone > 0:
            scored_by += f"dz{dead_zone:g}"
        self.calibrator = Calibrator(
            shipped,
            {Tier.ALERT: config.alert_target_per_hour, Tier.WARN: config.warn_target_per_hour},
            config.threshold_ceiling,
            config.calibration_file,
            config.calibration_enabled,
            model_id=scored_by,
            tail_scales={Tier.WARN: config.warn_calibration_tail},
        )
        self._vad = webrtcvad.Vad(config.vad_mode)
        self._frontend = StreamingLogMel(model.info.band_hz)
        self._shout = ShoutingCue(config.shouting_dbfs, config.shouting_over_median_db, config.shouting_min_s)
        # Unbounded, so a call edge or staff action is never lost; feed() bounds the frames itself.
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._events: deque[tuple[int, AbuseDetected]] = deque()
        """Detections handed to poll(), each with its call's generation (deque appends are thread-safe)."""
        self._generation = 0
        """The caller's side: which call is open (bumped at each reset)."""
        self._call_open = True
        """Until the first reset, the audio fed is one call (tools that never reset still get their detections)."""
        self._scoring_generation = 0
        """The worker's side: which call the audio it is scoring belongs to."""
        self.late_detections = 0
        """Detections the worker made after their call had ended (it lagged): never reported to the next caller."""
        self.detections: list[Detection] = []
        """Every detection of the current call, with times (for the CLI and evaluation; read after wait_idle)."""
        self._clips: list[_PendingClip] = []
        self._clip_counts = {
            "confirmed": 0,
            "unconfirmed": 0,
            "staff_flagged": 0,
            "dropped": 0,
            "failed": 0,
            "not_recorded": 0,
        }
        self.trace: list[tuple[float, Any]] | None = None
        """When a list, every scored hop is appended as (time, scores): used by the evaluation."""
        self.trace_parts: list[tuple[float, Any, Any]] | None = None
        """When a list, every hop's (time, smoothed stage-1 posteriors, verifier posteriors or None)."""
        self._history = max(WINDOW_FRAMES, model.verifier.window_frames if model.verifier else 0)
        self.dropped_frames = 0
        self.failure: str | None = None
        """Why detection stopped while running (safe mode until restart); None while it works."""
        self.inferences = 0
        self.verifications = 0
        """Verifier inferences (stage-1 candidates checked)."""
        self.tonal_vetoes = 0
        """Keyword candidates (a run of hops counts once) and shouting cues (at most one a second) dropped
        because the audio was steady partials (music, tones), not speech."""
        self.infer_s = 0.0
        self._reset_state()
        self._worker: threading.Thread | None = None
        if not config.inline:
            self._worker = threading.Thread(target=self._run, name="abuse-detector", daemon=True)
            self._worker.start()

    def _resolve(self, shipped: dict[str, float], overrides: dict[str, float]) -> dict[str, float]:
        out = {}
        for c in self.classes:
            out[c.id] = overrides.get(c.id, overrides.get(c.category, shipped.get(c.id, 0.99)))
        return out

    def _reset_state(self) -> None:
        # A new VAD too: webrtcvad adapts to the line's noise, and a new call is a new line.
        self._vad = webrtcvad.Vad(self.config.vad_mode)
        self._frontend.reset()
        if self._balance is not None:
            self._balance.reset()
        self._shout.reset()
        self._features = FeatureHistory(self._history)
        self._voiced: deque[bool] = deque(maxlen=WINDOW_FRAMES)
        self._posteriors: deque[np.ndarray] = deque(maxlen=self.config.smoothing_hops)
        kept_s = max(self.config.clip_s, self.config.staff_clip_s, self.config.tonal_window_s)
        self._audio: deque[Pcm] = deque(maxlen=max(1, round(kept_s / FRAME_S)))
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames = 0
        self._last: dict[tuple[str, Tier], float] = {}
        self._held: dict[str, tuple[int, float]] = {}
        """Alert-tier crossings waiting to see if they reach the warn tier: class id -> (hops left, score)."""
        self._last_shout = -1e9
        self._tonal_run = False
        self._shout_music_until = -1e9
        self._call_clips = 0
        self._last_staff_mark = -1e9
        self.speech_s = 0.0

    # -- the audio side: never blocks ------------------------------------------------------------------
    def feed(self, pcm: Pcm, t: float) -> None:
        """Hand over caller-leg audio starting at time ``t`` (s); drops it, counted, if the worker lags."""
        if self.config.inline:
            self._process(pcm, t)
        elif self._queue.qsize() >= self.config.queue_frames:
            self.dropped_frames += 1
        else:
            self._queue.put_nowait((pcm.copy(), t))

    def staff_acted(self, t: float, action: str) -> None:
        """Staff warned or cut at time ``t``: if no detection came in the ``staff_clip_s`` before, keep that
        caller audio as a staff-flagged clip (a word the model may have missed, for a person to label).

        Queued behind the audio already fed, so the clip holds everything up to the action; never blocks.
        """
        self._submit(_StaffMark(t, action))

    def poll(self) -> list[AbuseDetected]:
        """Detections of the open call since the last poll; a lagging worker's detections of an ended call
        are counted in ``late_detections`` and dropped (that caller is gone; the next must not be warned)."""
        events = []
        while self._events:
            generation, event = self._events.popleft()
            if self._call_open and generation == self._generation:
                events.append(event)
            else:
                self.late_detections += 1
        return events

    def reset(self) -> None:
        """Call start: the next audio belongs to a new call (the previous call's queued audio is scored first)."""
        self._generation += 1
        self._call_open = True
        if self.config.inline:
            # Nothing can still be in flight: tools that read ``detections`` and never poll keep no backlog.
            self._events.clear()
        self._submit(_CallStart(self._generation))

    def end_call(
        self, staff_acted: bool, caller_speech_s: float | None = None, keep_clips: bool = True
    ) -> None:
        """Call end: feed calibration (scores only) and hand the call's clips over, labelled by what staff did.

        ``caller_speech_s`` is the caller's speech the calibration learns from; None (the appliance) takes
        the detector's own voiced-frame count of the call, read when the worker reaches the call's end.
        ``keep_clips`` is False for a call that was not recorded (recording off, or the number on the
        no-record list): its clips are dropped, as a clip is a piece of the recording. Never blocks: the
        calibration file and the sealed clips are written by the worker.
        """
        self._call_open = False
        self._submit(_CallEnd(staff_acted, caller_speech_s, keep_clips))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the worker has handled everything queued; False on timeout. For tools and tests only:
        the appliance never calls it (the audio path never waits for the model)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def _clip_health(self) -> dict[str, Any]:
        counts: dict[str, Any] = dict(self._clip_counts)
        stored = getattr(self.clip_sink, "stored", None)
        if callable(stored):
            counts["stored"] = stored()
        return counts

    def health(self) -> dict[str, Any]:
        """Model version, thresholds in force, calibration state, clip counts, queue drops."""
        info = self.model.info
        return {
            "model": {"version": info.version, "sha256": info.sha256, "path": str(self.model.path)},
            # 0: off. Thresholds hold their priced rates only with the prior they were priced with.
            "balance_prior_frames": int(self._balance.prior) if self._balance is not None else 0,
            "model_balance_prior_frames": info.balance_prior_frames,
            "balance_dead_zone": self._balance.dead_zone if self._balance is not None else 0.0,
            "thresholds": {str(t): dict(v) for t, v in self.calibrator.thresholds.items()},
            "calibration": self.calibrator.state(),
            "clips": self._clip_health(),
            "failure": self.failure,
            "dropped_frames": self.dropped_frames,
            "late_detections": self.late_detections,
            "inferences": self.inferences,
            "verifications": self.verifications,
            "tonal_vetoes": self.tonal_vetoes,
            "mean_inference_ms": round(1000 * self.infer_s / self.inferences, 3) if self.inferences else None,
        }

    def close(self) -> None:
        """Stop the worker thread once it has handled what was queued (a last call's end is still saved)."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=5.0)
            self._worker = None

    def _submit(self, item: _StaffMark | _CallStart | _CallEnd) -> None:
        if self.config.inline:
            self._handle(item)
        else:
            self._queue.put_nowait(item)

    # -- the worker side ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._handle(item)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any failure, and say so
                self._fail("the detector's worker", exc)
            finally:
                self._queue.task_done()

    def _handle(self, item: tuple[Pcm, float] | _StaffMark | _CallStart | _CallEnd) -> None:
        if isinstance(item, _CallStart):
            self._start_call(item.generation)
        elif isinstance(item, _CallEnd):
            self._finish_call(item)
        elif isinstance(item, _StaffMark):
            self._staff_mark(item)
        else:
            self._process(*item)

    def _start_call(self, generation: int) -> None:
        self._reset_state()
        self._scoring_generation = generation
        self.detections = []
        self._clips = []
        self.calibrator.reset_call()

    def _finish_call(self, end: _CallEnd) -> None:
        speech_s = self.speech_s if end.caller_speech_s is None else end.caller_speech_s
        self.calibrator.end_call(end.staff_acted, speech_s)
        clips, self._clips = self._clips, []
        if not end.keep_clips:
            self._clip_counts["not_recorded"] += len(clips)
            return
        label = "confirmed" if end.staff_acted else "unconfirmed"
        for pending in clips:
            if self.clip_sink is None:
                continue
            try:
                self.clip_sink.save(pending.clip, {**pending.meta, "label": label})
                self._clip_counts[label] += 1
                if pending.meta.get("source") == "staff":
                    self._clip_counts["staff_flagged"] += 1
            except Exception:  # noqa: BLE001 - a failing sink must not stop the detector
                self._clip_counts["failed"] += 1

    def _fail(self, where: str, exc: Exception) -> None:
        if self.failure is None:
            self.failure = (
                f"{where} failed while running ({type(exc).__name__}: {exc}); abuse detection is off "
                "until restart (safe mode), calls go on and are recorded"
            )
            log.error("%s", self.failure)

    def _process(self, pcm: Pcm, t: float) -> None:
        if not self._pending.size and pcm.size == HOP:  # the appliance's 20 ms frames: no re-slicing
            self._frame(pcm, t + FRAME_S)
            return
        data = np.concatenate([self._pending, pcm.astype(np.int16)]) if self._pending.size else pcm
        start_t = t - self._pending.size / SAMPLE_RATE
        n = data.size // HOP
        for i in range(n):
            self._frame(data[i * HOP : (i + 1) * HOP], start_t + (i + 1) * FRAME_S)
        self._pending = data[n * HOP :].astype(np.int16)

    def _frame(self, frame: Pcm, t_end: float) -> None:
        self._audio.append(frame)
        voiced = self._vad.is_speech(frame.astype("<i2").tobytes(), SAMPLE_RATE)
        self._voiced.append(voiced)
        if voiced:
            self.speech_s += FRAME_S
        features = self._frontend.push_frame(frame)
        if self._balance is not None:
            features = self._balance.correct(features, voiced)
        self._features.append(features)
        self._frames += 1
        if self.config.shouting_enabled:
            level = self._shout.push(frame, voiced)
            if level is not None and t_end - self._last_shout >= 10.0 and not self._music_playing(t_end):
                self._last_shout = t_end
                self._emit(
                    "shouting",
                    Category(self.config.shouting_category),
                    Tier.ALERT,
                    0.0,
                    t_end,
                    2.0,
                    "shouting",
                )
        if self._frames % self.config.hop_frames:
            return
        if self.failure is None and sum(self._voiced) >= self.config.vad_min_speech_frames:
            began = time.perf_counter()
            try:
                posterior = self.model.predict(model_input(self._features.last(WINDOW_FRAMES)))
            except Exception as exc:  # noqa: BLE001 - the runtime raises bare RuntimeError/ValueError
                self._fail("the keyword model", exc)
                return
            self.infer_s += time.perf_counter() - began
            self.inferences += 1
        else:
            posterior = np.zeros(len(self.classes) + 1, dtype=np.float32)
            posterior[0] = 1.0
        self._posteriors.append(posterior)
        smoothed = np.mean(self._posteriors, axis=0)
        smoothed = self._verified(smoothed, t_end)
        if smoothed is None:
            return
        if self.trace is not None:
            self.trace.append((t_end, smoothed))
        scores = {name: float(smoothed[i + 1]) for i, name in enumerate(self._names)}
        if self._on_steady_partials(scores, self.calibrator.thresholds):
            return  # music or tones: not a word, so neither a detection nor a score to calibrate on
        self.calibrator.observe(scores)
        thresholds = self.calibrator.thresholds
        for c in self.classes:
            self._decide(c.id, Category(c.category), c.typical_s, scores[c.id], thresholds, t_end)

    def _music_playing(self, t_end: float) -> bool:
        """Whether loud audio that the shouting cue caught is music (steady partials), not a raised voice.

        Loud music keeps the cue up every frame: once taken for music, it is measured again a second later.
        """
        if self.config.tonal_veto <= 0:
            return False
        if t_end < self._shout_music_until:
            return True
        if not self._steady_partials():
            return False
        self._shout_music_until = t_end + 1.0
        self.tonal_vetoes += 1
        return True

    def _steady_partials(self) -> bool:
        """Whether the last ``tonal_window_s`` of caller audio is music or tones by the veto's measure."""
        return steady_share(self._last_audio(self.config.tonal_window_s)) >= self.config.tonal_veto

    def _on_steady_partials(self, scores: dict[str, float], thresholds: dict[Tier, dict[str, float]]) -> bool:
        """Whether a hop with a keyword candidate sounds like music or tones (edge.dsp.tonality), not speech.

        Measured only when some class reaches a threshold, so ordinary speech seldom pays for it. A run of
        such hops counts once in ``tonal_vetoes``.
        """
        candidate = self.config.tonal_veto > 0 and any(
            score >= min(thresholds[Tier.ALERT][name], thresholds[Tier.WARN][name])
            for name, score in scores.items()
        )
        steady = candidate and self._steady_partials()
        if steady:
            self.calibrator.set_aside(
                name for name, score in scores.items() if score >= self.calibrator.floor
            )
        if steady and not self._tonal_run:
            self.tonal_vetoes += 1
        self._tonal_run = steady
        return steady

    def _decide(
        self,
        name: str,
        category: Category,
        typical_s: float,
        score: float,
        thresholds: dict[Tier, dict[str, float]],
        t_end: float,
    ) -> None:
        """Report one class's hop: a warning at once; an alert after the hold, unless it became a warning.

        A keyword's smoothed score usually rises over a hop or two, so the staff-alert tier is often
        crossed just before the caller-warning tier: without the hold, one word gave staff an alert tone
        and then the caller a warning, and central two incidents.
        """
        refractory = self.config.refractory_s
        if score >= thresholds[Tier.WARN][name]:
            self._held.pop(name, None)
            if t_end - self._last.get((name, Tier.WARN), -1e9) >= refractory:
                # A warning implies the alert: do not report the same word twice.
                self._last[(name, Tier.WARN)] = self._last[(name, Tier.ALERT)] = t_end
                self._emit(name, category, Tier.WARN, score, t_end, typical_s, "model")
            return
        held = self._held.get(name)
        if held is None:
            if score < thresholds[Tier.ALERT][name]:
                return
            if t_end - self._last.get((name, Tier.ALERT), -1e9) < refractory:
                return
            held = (self.config.alert_hold_hops, score)
        hops_left, best = held[0], max(held[1], score)
        if hops_left > 0:
            self._held[name] = (hops_left - 1, best)
            return
        self._held.pop(name, None)
        self._last[(name, Tier.ALERT)] = t_end
        self._emit(name, category, Tier.ALERT, best, t_end, typical_s, "model")

    def _verified(self, smoothed: np.ndarray, t_end: float) -> np.ndarray | None:
        """Stage-1 scores fused with the verifier's (when the model has one); None if the verifier failed.

        The verifier sees the longer window ending now and is asked only when some keyword class reaches
        the candidate score; below it, every keyword score is 0 (nothing could reach a threshold anyway).
        """
        v = self.model.verifier
        if v is None:
            if self.trace_parts is not None:
                self.trace_parts.append((t_end, smoothed, None))
            return smoothed
        checked = None
        if self.failure is None and float(smoothed[1:].max()) >= v.candidate:
            began = time.perf_counter()
            try:
                checked = self.model.verify(model_input(self._features.last(v.window_frames)))
            except Exception as exc:  # noqa: BLE001 - the runtime raises bare RuntimeError/ValueError
                self._fail("the keyword verifier", exc)
                return None
            self.infer_s += time.perf_counter() - began
            self.verifications += 1
        if self.trace_parts is not None:
            self.trace_parts.append((t_end, smoothed, checked))
        fused = np.zeros_like(smoothed)
        fused[0] = smoothed[0]
        if checked is not None:
            fused[1:] = smoothed[1:] ** (1.0 - v.weight) * checked[1:] ** v.weight
        return fused

    def _emit(
        self,
        keyword: str,
        category: Category,
        tier: Tier,
        score: float,
        t_end: float,
        length_s: float,
        source: str,
    ) -> None:
        event = AbuseDetected(
            category=category, tier=tier, keyword=keyword, score=round(score, SCORE_DECIMALS), source=source
        )
        self._events.append((self._scoring_generation, event))
        self.detections.append(Detection(event, t_end, max(0.0, t_end - length_s)))
        if self._call_clips < self.config.clips_per_call:
            self._call_clips += 1
            clip = self._last_audio(self.config.clip_s)
            meta = {
                "keyword": keyword,
                "category": str(category),
                "tier": str(tier),
                "score": event.score,
                "t": round(t_end, 3),
                "source": source,
                "model_version": self.model.info.version,
            }
            self._clips.append(_PendingClip(clip, meta))
        else:
            self._clip_counts["dropped"] += 1

    def _last_audio(self, seconds: float) -> Pcm:
        frames = list(self._audio)[-max(1, round(seconds / FRAME_S)) :]
        return np.concatenate(frames).astype(np.int16) if frames else np.zeros(0, np.int16)

    def _staff_mark(self, mark: _StaffMark) -> None:
        """Keep the caller audio before a staff action unless a detection already explains it.

        A keyword detection in the window means staff confirmed what the box caught (that clip is kept
        already). A second staff input inside the window (a warning, then a cut) adds nothing: same words.
        """
        window = self.config.staff_clip_s
        previous, self._last_staff_mark = self._last_staff_mark, mark.t
        if window <= 0 or mark.t - previous < window:
            return
        if any(d.event.source == "model" and d.t >= mark.t - window for d in self.detections):
            return
        clip = self._last_audio(window)
        if not clip.size:
            return
        if self._call_clips >= self.config.clips_per_call:
            self._clip_counts["dropped"] += 1
            return
        self._call_clips += 1
        meta = {
            "keyword": None,
            "category": None,
            "tier": None,
            "score": None,
            "t": round(mark.t, 3),
            "source": "staff",
            "action": mark.action,
            "model_version": self.model.info.version,
        }
        self._clips.append(_PendingClip(clip, meta))


def load_detector(
    config: DetectionConfig, clip_sink: ClipSink | None = None
) -> tuple[AbuseDetector | None, str | None]:
    """The detector, or None and one sentence saying why (the box then runs in safe mode: calls pass)."""
    if not config.enabled:
        return None, "abuse detection is disabled in [detection]"
    path = config.model_path or default_model_path()
    try:
        model = KwsModel(path, config.model_sha256)
    except ModelError as exc:
        return None, f"abuse detection is off (safe mode): {exc}"
    for name in (*config.alert_thresholds, *config.warn_thresholds):
        if name not in {c.id for c in model.info.classes} | {c.category for c in model.info.classes}:
            return (
                None,
                f"abuse detection is off (safe mode): threshold key {name!r} is no keyword group or category of {path.name}",
            )
    return AbuseDetector(config, model, clip_sink), None
