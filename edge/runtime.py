"""The appliance at run time: feeds events and audio frames to the call machine and carries out its actions."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edge.config import Config
from edge.core import actions as a
from edge.core import events as e
from edge.core.machine import CallMachine
from edge.core.state import Instant, LineState
from edge.dsp.callerid import CallerIdDecoder
from edge.dsp.dtmf import DtmfDetector
from edge.dsp.echo import EchoGate, LineEcho, mean_square
from edge.dsp.progress import CallProgressDetector
from edge.dsp.settings import DspConfig
from edge.mixer import Mixer, ToneFactory
from edge.ports import FRAME_SECONDS, AudioFrame, Hardware, Pcm
from edge.prompts import PromptError, PromptLibrary
from edge.store import CallStore, StoreError

log = logging.getLogger("lineguard.runtime")

POLICY_TYPES = frozenset(
    {"warning", "cut", "staff_alert", "duration_notice", "caller_marked", "block_notice", "calendar_message"}
)
"""Event types that are policy actions; each carries its legal basis."""
INCIDENT_KINDS = frozenset({"warning", "cut", "caller_marked"})
"""Policy actions that make a call an incident: its recording is kept longer."""
STAFF_CLIP_KINDS = frozenset({"warning", "cut"})
"""Staff actions whose preceding caller audio the detector keeps when it caught nothing there."""


class Clock(Protocol):
    """Where the runtime reads the time."""

    def now(self) -> Instant:
        """The current instant."""


class Recorder(Protocol):
    """What the runtime needs from the call recorder (issue 5)."""

    def start(self, call_id: str, meta: dict[str, Any]) -> None:
        """Begin recording a call."""

    def write(self, call_id: str, caller: Any, staff: Any) -> None:
        """Queue 20 ms of both legs; never blocks."""

    def stop(self, call_id: str) -> None:
        """Finish the call's recording."""


class Detector(Protocol):
    """What the runtime needs from the abuse detector (issue 4)."""

    def feed(self, pcm: Any, t: float) -> None:
        """Queue caller-leg audio; never blocks."""

    def poll(self) -> list[e.AbuseDetected]:
        """Detections ready since the last poll."""

    def reset(self) -> None:
        """A new call begins."""

    def end_call(
        self, staff_acted: bool, caller_speech_s: float | None = None, keep_clips: bool = True
    ) -> None:
        """A call ended; feeds self-calibration unless ``staff_acted`` (a confirmed incident: staff
        warned, cut or marked, or the box cut for abuse) with the caller speech it counted itself (None)
        or was given; keeps its clips only if it was recorded. Never waits for the model or the disk."""

    def staff_acted(self, t: float, action: str) -> None:
        """Staff warned or cut at ``t``: keep the caller audio before it if no detection explains it."""

    @property
    def failure(self) -> str | None:
        """Why detection stopped while running (safe mode until restart); None while it works."""


class EventPublisher(Protocol):
    """Where stored events go next (MQTT telemetry, issue 6)."""

    def publish_event(self, event: dict[str, Any]) -> None:
        """Hand an event over; must not block."""


@dataclass
class Record:
    """One line of the timeline: what happened, when, under which legal basis."""

    t: float
    wall: dt.datetime
    type: str
    call_id: str | None
    basis: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``simulate --json`` and telemetry."""
        return {
            "t": round(self.t, 3),
            "wall": self.wall.isoformat(timespec="milliseconds"),
            "type": self.type,
            "basis": self.basis,
            "call_id": self.call_id,
            **self.data,
        }


_RETRYABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _transient(exc: Exception) -> bool:
    """Whether a failed write can succeed later by itself (room comes back, the lock goes)."""
    if isinstance(exc, StoreError):
        return exc.transient
    return isinstance(exc, OSError) and exc.errno in _RETRYABLE_ERRNOS


class Steps:
    """A writer job of several steps; tried again after a failure it resumes at the step that failed, so
    no step that succeeded is done twice (an event is never stored twice)."""

    def __init__(self, *steps: Callable[[], object]) -> None:
        self._steps = steps
        self._done = 0

    def __call__(self) -> None:
        while self._done < len(self._steps):
            self._steps[self._done]()
            self._done += 1


class Writer:
    """Runs store and telemetry work off the audio path: inline for simulations, on a thread when live.

    A job that fails for a cause that can pass (disk full, database locked, card read-only) is kept, with
    every job after it, in a backlog of at most ``backlog_cap`` jobs and tried again in order every
    ``retry_s`` (on ``clock``); jobs beyond the cap are counted in ``overflow`` and lost. ``on_failing`` is
    called when storing stops, ``on_overflow`` when an outage first overflows the backlog, ``on_resumed``
    when the backlog is written out; all three on the writer's side, never on the audio path.
    """

    def __init__(
        self,
        threaded: bool,
        depth: int = 4096,
        *,
        backlog_cap: int = 20000,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_failing: Callable[[str], None] | None = None,
        on_overflow: Callable[[int], None] | None = None,
        on_resumed: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.threaded = threaded
        self.dropped = 0
        """Jobs refused because the hand-over queue was full (the writer thread fell behind)."""
        self.errors: deque[str] = deque(maxlen=20)
        self.overflow = 0
        """Jobs lost because the backlog was full during an outage."""
        self.stored_late = 0
        """Jobs that failed at first and were done on a later try."""
        self.lost_at_stop = 0
        """Jobs still in the backlog when the writer was closed with the store still failing."""
        self.failing_since: float | None = None
        self.backlog_cap = backlog_cap
        self.retry_s = retry_s
        self.clock = clock
        self.on_failing = on_failing
        self.on_overflow = on_overflow
        self.on_resumed = on_resumed
        self._backlog: deque[Callable[[], None]] = deque()
        self._last_try = 0.0
        self._outage_late = 0
        self._outage_overflow = 0
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="lineguard-writer", daemon=True)
            self._thread.start()

    @property
    def backlog(self) -> int:
        """Jobs waiting for the store to work again."""
        return len(self._backlog)

    def submit(self, job: Callable[[], None]) -> None:
        """Do ``job`` now (inline) or soon (threaded); never waits: a full queue drops it and counts the loss."""
        if not self.threaded:
            self._take(job)
            return
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1

    def health(self) -> dict[str, Any]:
        """The writer's part of the status."""
        failing = self.failing_since
        return {
            "dropped": self.dropped,
            "errors": list(self.errors),
            "backlog": self.backlog,
            "overflow": self.overflow,
            "stored_late": self.stored_late,
            "lost_at_stop": self.lost_at_stop,
            "failing_s": None if failing is None else round(self.clock() - failing, 1),
        }

    def _take(self, job: Callable[[], None]) -> None:
        # Behind a backlog a new job waits its turn: the store sees the jobs in the order they came.
        if self._backlog and self.clock() - self._last_try >= self.retry_s:
            self._drain()
        if self._backlog:
            self._keep(job)
            return
        if not self._attempt(job):
            self._backlog.append(job)
            self._last_try = self.clock()
            if self.failing_since is None:
                self._start_outage()

    def _attempt(self, job: Callable[[], None]) -> bool:
        """Run one job; False when it failed for a cause that can pass (the job is to be kept)."""
        try:
            job()
        except (StoreError, OSError) as exc:
            self.errors.append(str(exc))
            if not _transient(exc):
                log.error("%s", exc)  # it would fail again on every try: reported and let go
                return True
            if self.failing_since is None:
                log.error("storing paused, writes kept in memory: %s", exc)
            return False
        return True

    def _start_outage(self) -> None:
        self.failing_since = self.clock()
        self._outage_late = 0
        self._outage_overflow = 0
        if self.on_failing is not None:
            self.on_failing(self.errors[-1] if self.errors else "store failing")

    def _keep(self, job: Callable[[], None]) -> None:
        if len(self._backlog) >= self.backlog_cap:
            self.overflow += 1
            self._outage_overflow += 1
            if self._outage_overflow == 1:
                log.error(
                    "store backlog full (%d jobs): newer writes are lost until it drains", self.backlog_cap
                )
                if self.on_overflow is not None:
                    self.on_overflow(self.backlog_cap)
            return
        self._backlog.append(job)

    def _drain(self) -> None:
        """Try the backlog in order; stop at the first job that still fails."""
        self._last_try = self.clock()
        while self._backlog:
            if not self._attempt(self._backlog[0]):
                self._last_try = self.clock()
                return
            self._backlog.popleft()
            self._outage_late += 1
        if self.failing_since is None:
            return
        info = {
            "stored_late": self._outage_late,
            "failed_s": round(self.clock() - self.failing_since, 1),
            "lost": self._outage_overflow,
        }
        self.stored_late += self._outage_late
        self.failing_since = None
        log.warning("storing resumed: %s", info)
        if self.on_resumed is not None:
            self.on_resumed(info)

    def _give_up(self) -> None:
        if self._backlog:
            self.lost_at_stop += len(self._backlog)
            log.error("%d writes lost: the store still fails at stop", len(self._backlog))
            self._backlog.clear()

    def _run(self) -> None:
        while True:
            timeout = None
            if self._backlog:
                timeout = max(0.0, self.retry_s - (self.clock() - self._last_try))
            try:
                job = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._drain()
                continue
            if job is None:
                self._drain()
                self._give_up()
                return
            self._take(job)

    def close(self) -> None:
        """Finish queued work (one last try of the backlog) and stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
        else:
            self._drain()
            self._give_up()


PHONE_ECHO_WINDOW_FRAMES = 10
"""How far back (200 ms) what the box sent to the phone may still be echoing on the phone leg."""


class LineSignals:
    """The telephony detectors of one line: DTMF on the phone leg, caller ID and call progress on the line leg."""

    HANG_UP_TONES = frozenset({"busy", "reorder"})

    def __init__(self, dsp: DspConfig) -> None:
        self.dtmf = DtmfDetector()
        self.phone_echo = EchoGate(dsp.staff_code_echo_loss_db, PHONE_ECHO_WINDOW_FRAMES)
        """The phone leg's echo of the caller: a caller's DTMF coming back from the SLIC is not a staff code."""
        self.callerid = CallerIdDecoder(standards=dsp.callerid_standards)
        self.progress = CallProgressDetector(config=dsp)
        self.caller_id_raw: deque[dict[str, Any]] = deque(maxlen=10)

    def hear(self, frame: AudioFrame, line_live: bool) -> list[e.Event]:
        """Events decoded from one frame; call progress is only listened for while the line is seized."""
        staff = frame.phone
        if self.phone_echo.is_echo(mean_square(staff)):
            staff = self.phone_echo.silence(staff.size)
        found: list[e.Event] = [e.DtmfDigit(hit.digit, e.Leg.PHONE) for hit in self.dtmf.feed(staff)]
        for message in self.callerid.feed(frame.line):
            self.caller_id_raw.append({"standard": message.standard, "checksum_ok": message.checksum_ok})
            if message.checksum_ok:
                found.append(
                    e.CallerIdReceived(message.number, message.name, message.absence, message.datetime)
                )
        if line_live:
            for tone in self.progress.feed(frame.line):
                if tone.kind in self.HANG_UP_TONES:
                    found.append(e.FarEndHangup(f"{tone.kind}_tone"))
        return found

    def sent_to_phone(self, frame: Pcm) -> None:
        """Note a frame the box played to the desk phone (its echo may come back on the phone leg)."""
        self.phone_echo.sent(frame)


def line_echo_settings(config: Config) -> tuple[float, float, float]:
    """The [detection] settings the line's echo canceller and check are built from."""
    detection = config.detection
    return (detection.echo_return_loss_db, detection.echo_window_ms, detection.echo_canceller_ms)


def line_echo(config: Config) -> LineEcho:
    """The echo canceller and check of ``config``'s [detection] section."""
    detection = config.detection
    window = max(1, round(detection.echo_window_ms / 1000 / FRAME_SECONDS))
    tail = round(detection.echo_canceller_ms / 1000 / FRAME_SECONDS)
    return LineEcho(detection.echo_return_loss_db, window, tail)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class LineRuntime:
    """One line: the machine, its state, the mixer, and the executors of its actions."""

    def __init__(self, app: Appliance, hardware: Hardware, line: str, seq: int) -> None:
        self.app = app
        self.hw = hardware
        self.machine = CallMachine(app.config)
        self.state = LineState(line=line, seq=seq)
        self.mixer = Mixer(app.tones)
        self.signals = LineSignals(app.config.dsp)
        self.hw_line_live = False
        self.call_id: str | None = None
        self.staff_acted = False
        self.abuse_cut = False
        self.recorded = False
        """The call is being recorded: only then may the detector keep clips of it."""
        self.detector_failure_reported = False
        """The detector's mid-run failure is raised as an alarm once, not every frame."""
        self.echo = line_echo(app.config)
        """Keeps the line's echo of the staff (and of prompts) from the detector, which hears the caller only."""

    def handle(self, event: e.Event, now: Instant) -> None:
        """Step the machine with one event and carry out what it asks."""
        if not isinstance(event, e.Tick):
            self._log_input(event, now)
        self.state, actions = self.machine.step(self.state, event, now)
        for action in actions:
            self._execute(action, now)

    def _log_input(self, event: e.Event, now: Instant) -> None:
        call_id = self.state.call.call_id if self.state.call else None
        if isinstance(
            event, e.RingStarted | e.RingStopped | e.CallerIdReceived | e.AbuseDetected | e.DtmfDigit
        ):
            return  # the machine notes these itself, with their context
        data: dict[str, Any] = {}
        if isinstance(event, e.DtmfDigit):
            data = {"digit": event.digit, "leg": event.leg.value}
        elif isinstance(event, e.ButtonPressed):
            data = {"long": event.long}
        elif isinstance(event, e.FarEndHangup):
            data = {"cause": event.cause}
        elif isinstance(event, e.PromptFinished):
            data = {"prompt": event.prompt}
        elif isinstance(event, e.FaultRaised | e.FaultCleared):
            return
        self.app.record(now, e.event_name(event), call_id, None, data)

    def process_frame(self, frame: AudioFrame, now: Instant) -> None:
        """One 20 ms frame: detectors, recorder, mixer, output, and the clock tick."""
        app = self.app
        for event in self.signals.hear(frame, self.hw_line_live):
            self.handle(event, now)
        call = self.state.call
        # Before the bridge the notice's echo, the caller listening, teaches the echo check and canceller.
        caller = self.echo.heard(frame.line, call.bridged) if call is not None and self.hw_line_live else None
        if call is not None and call.bridged and app.detector is not None:
            app.detector.feed(caller if caller is not None else frame.line, now.mono)
            for detection in app.detector.poll():
                self.handle(detection, now)
            failure = app.detector.failure
            if failure is not None and not self.detector_failure_reported:
                self.detector_failure_reported = True
                app.alarm(now, "detector_safe_mode", failure)
        if call is not None and call.recording and app.recorder is not None:
            app.recorder.write(call.call_id, frame.line, frame.phone)
        line_out, phone_out, finished = self.mixer.mix(frame)
        self.hw.audio.write(line_out, phone_out)
        self.echo.sent(line_out)
        self.signals.sent_to_phone(phone_out)
        if finished is not None:
            self.handle(e.PromptFinished(finished), now)
        self.handle(e.Tick(), now)

    # -- executors ----------------------------------------------------------------------------------

    def _execute(self, action: a.Action, now: Instant) -> None:
        app = self.app
        record = app.record
        if isinstance(action, a.SeizeLine):
            self.hw.line.set_off_hook(True)
            self.hw_line_live = True
            record(now, "line_seized", self.call_id)
        elif isinstance(action, a.ReleaseLine):
            self.hw.line.set_off_hook(False)
            self.hw_line_live = False
            self.signals.progress = CallProgressDetector(config=self.app.config.dsp)
            record(now, "line_released", self.call_id)
        elif isinstance(action, a.PlayPrompt):
            self._play(action, now)
        elif isinstance(action, a.StopPrompt):
            record(now, "prompt_stopped", self.call_id, None, {"prompt": self.mixer.playing})
            self.mixer.stop_prompt()
        elif isinstance(action, a.PlayTone):
            self.mixer.play_tone(action.tone, action.leg)
            record(now, "tone", self.call_id, None, {"tone": action.tone, "leg": action.leg.value})
        elif isinstance(action, a.StartTone):
            self.mixer.start_tone(action.tone, action.leg)
            record(now, "tone_started", self.call_id, None, {"tone": action.tone, "leg": action.leg.value})
        elif isinstance(action, a.StopTones):
            self.mixer.stop_tones()
        elif isinstance(action, a.RingPhone):
            self.hw.phone.start_ringing(action.number, action.name)
            record(now, "phone_ringing", self.call_id, None, {"number": action.number})
        elif isinstance(action, a.StopRingingPhone):
            self.hw.phone.stop_ringing()
        elif isinstance(action, a.Bridge):
            self.mixer.bridged = action.on
            record(now, "bridged" if action.on else "unbridged", self.call_id)
        elif isinstance(action, a.StartRecording):
            self._start_recording(action.call_id, now)
        elif isinstance(action, a.StopRecording):
            if app.recorder is not None:
                app.recorder.stop(action.call_id)
                record(now, "recording_stopped", action.call_id)
        elif isinstance(action, a.SetBypass):
            self.hw.relays.set_bypass(action.on)
            record(
                now, "bypass_on" if action.on else "bypass_off", self.call_id, None, {"reason": action.reason}
            )
        elif isinstance(action, a.SetLed):
            self.hw.led.set_pattern(action.pattern)
        elif isinstance(action, a.OpenCall):
            self._open(action, now)
        elif isinstance(action, a.CloseCall):
            self._close(action, now)
        elif isinstance(action, a.Note):
            if action.kind in INCIDENT_KINDS and action.call_id:
                self.staff_acted = self.staff_acted or action.basis == a.Basis.STAFF
                # "via" marks a staff input (button, handset code); the cut that follows a staff warning's
                # prompt is the box finishing that same action, over audio of the prompt.
                staff_input = action.basis == a.Basis.STAFF and "via" in action.data
                if staff_input and action.kind in STAFF_CLIP_KINDS and app.detector is not None:
                    app.detector.staff_acted(now.mono, action.kind)
                # A cut for abuse took repeated detections in one category: the call is a confirmed
                # incident, and its scores must not teach self-calibration to ignore the next abuser.
                self.abuse_cut = self.abuse_cut or (
                    action.kind == "cut" and (action.basis or "").startswith("abuse.")
                )
                if app.recorder_impl is not None:
                    app.recorder_impl.mark_incident(action.call_id, action.basis or "")
            record(now, action.kind, action.call_id, action.basis, dict(action.data))
        elif isinstance(action, a.RecordStrike):
            app.strike(action, now)

    def _play(self, action: a.PlayPrompt, now: Instant) -> None:
        try:
            pcm = self.app.prompts.get(action.prompt)
        except PromptError as exc:
            # A missing prompt must not stall the call: note the fault and move on as if it played.
            self.app.alarm(now, "prompt_missing", str(exc))
            self.handle(e.PromptFinished(action.prompt), now)
            return
        self.mixer.play_prompt(action.prompt, pcm, action.leg)
        self.app.record(
            now, "prompt", self.call_id, action.basis, {"prompt": action.prompt, "leg": action.leg.value}
        )

    def _start_recording(self, call_id: str, now: Instant) -> None:
        app = self.app
        if app.recorder is None:
            app.record(now, "recording_unavailable", call_id, None, {"reason": app.recorder_missing})
            return
        number = self.state.call.number if self.state.call else None
        if not app.should_record(number):
            app.record(now, "recording_skipped", call_id, None, {"reason": "no-record list"})
            return
        app.recorder.start(
            call_id, {"line": self.state.line, "number": number, "started": now.wall.isoformat()}
        )
        self.recorded = True
        app.record(now, "recording_started", call_id)

    def _open(self, action: a.OpenCall, now: Instant) -> None:
        self.call_id = action.call_id
        self.staff_acted = False
        self.abuse_cut = False
        self.recorded = False
        self.echo.reset()
        if self.app.detector is not None:
            self.app.detector.reset()
        line = self.state.line
        store = self.app.store
        self.app.writer.submit(
            lambda: store.open_call(
                action.call_id, line, action.direction, now.wall, action.number, action.name, action.absence
            )
        )
        if self.app.keep_timeline:  # simulations report their calls; a box must not grow a list for years
            self.app.call_ids.append(action.call_id)
        data = {"direction": action.direction, "number": action.number, "name": action.name}
        self.app.record(now, "call_started", action.call_id, None, data)

    def _close(self, action: a.CloseCall, now: Instant) -> None:
        store = self.app.store
        self.app.writer.submit(
            lambda: store.close_call(
                action.call_id, now.wall, action.outcome, action.basis, action.ended_by, action.dialed
            )
        )
        data = {"outcome": action.outcome, "ended_by": action.ended_by}
        if action.dialed:
            data["dialed"] = action.dialed
        self.app.record(now, "call_ended", action.call_id, action.basis, data)
        detector = self.app.detector
        if detector is not None:
            # Calibration learns from the caller speech the detector's own VAD counted in this call.
            detector.end_call(self.staff_acted or self.abuse_cut, keep_clips=self.recorded)
        self.call_id = None


class Appliance:
    """The composition of machine, hardware, store, prompts and optional recorder, detector and telemetry."""

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        hardware: Hardware,
        clock: Clock,
        tones: ToneFactory,
        *,
        threaded: bool = False,
        recorder: Recorder | None = None,
        recorder_missing: str = "",
        detector: Detector | None = None,
        publisher: EventPublisher | None = None,
        should_record: Callable[[str | None], bool] | None = None,
        store_hook: Callable[[int, dict[str, Any]], None] | None = None,
        last_chained_event: int = 0,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.clock = clock
        self.tones = tones
        self.store = CallStore(data_dir, on_event=store_hook, fallback=True)
        self.prompts = PromptLibrary(config.prompts, cache_dir=data_dir / "cache")
        self.writer = Writer(
            threaded,
            clock=lambda: clock.now().mono,
            on_failing=self._store_failing,
            on_overflow=self._store_overflow,
            on_resumed=self._store_resumed,
        )
        self.recorder = recorder
        self.recorder_impl: Any = recorder
        """The concrete recorder, for the daemon's retention and the console's diagnostics."""
        self.recorder_missing = recorder_missing
        self.detector = detector
        self.detector_missing = ""
        self.closers: list[Callable[[], None]] = []
        self.publisher = publisher
        self.should_record = should_record or (lambda number: True)
        self.timeline: list[Record] = []
        self.keep_timeline = True
        self.call_ids: list[str] = []
        self.alarms: deque[Record] = deque(maxlen=50)
        self._events: queue.SimpleQueue[e.Event] = queue.SimpleQueue()
        self._t0: float | None = None
        now = clock.now()
        seq = self.store.next_seq("L1", now.wall.date())
        local_blocks = self.store.local_blocks()
        if local_blocks:
            self._apply_blocks(local_blocks)
        self.line = LineRuntime(self, hardware, "L1", seq)
        self.hardware = hardware
        if self.store.problem is not None:
            self.alarm(now, "store_unavailable", self.store.problem)
        try:
            interrupted = self.store.close_interrupted()
            # In-memory rows are never chained, so only the file is compared with the chain.
            lost = self.store.continue_event_ids_after(last_chained_event) if self.store.on_event else []
        except StoreError as exc:
            self.alarm(now, "store_unavailable", str(exc))
        else:
            if lost:  # a power cut took the database's last commits; the chain still names them
                ids = f"{lost[0]}-{lost[-1]}" if len(lost) > 1 else str(lost[0])
                self.alarm(
                    now,
                    "events_lost",
                    f"the database lacks events {ids} that the hash chain names (its last commits lost in a "
                    "power cut, or a damaged database kept aside); new events are numbered after them",
                )
            if interrupted:  # the box restarted mid-call (crash, kill, power cut): no record stays open
                self.record(now, "calls_interrupted", None, None, {"calls": interrupted})
        hardware.start(self._events.put)

    # -- the loop -----------------------------------------------------------------------------------

    def start(self) -> None:
        """The box is ready: step into the line (the relay was released until now)."""
        self.line.handle(e.FaultCleared("startup"), self.clock.now())

    def pump(self, frame: AudioFrame | None) -> None:
        """Handle queued hardware events, then one audio frame (or just the clock when none came)."""
        now = self.clock.now()
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self.line.handle(event, now)
        if frame is not None:
            self.line.process_frame(frame, now)
            self.hardware.relays.kick_watchdog()
        else:
            self.line.handle(e.Tick(), now)

    def inject(self, event: e.Event) -> None:
        """Queue an event from outside the hardware (console, MQTT command); thread-safe."""
        self._events.put(event)

    def close(self) -> None:
        """Stop: finish writes, close the parts, the store, and leave the relay in bypass."""
        self.writer.close()
        for closer in reversed(self.closers):
            closer()
        self.hardware.close()
        self.store.close()

    # -- records, alarms, strikes -------------------------------------------------------------------

    def record(
        self,
        now: Instant,
        kind: str,
        call_id: str | None,
        basis: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Record:
        """Log one event: timeline (simulations), store (off the audio path) and telemetry."""
        if self._t0 is None:
            self._t0 = now.mono
        entry = Record(now.mono - self._t0, now.wall, kind, call_id, basis, dict(data or {}))
        if self.keep_timeline:
            self.timeline.append(entry)
        store = self.store
        publisher = self.publisher
        stored: list[int] = []  # the event's id once stored; a retry must not store it again
        steps: list[Callable[[], object]] = [
            lambda: stored.append(store.add_event(call_id, now.mono, now.wall, kind, basis, entry.data))
        ]
        if kind == "caller_marked" and call_id:
            steps.append(lambda: store.mark_call(call_id))
        if publisher is not None:
            steps.append(lambda: publisher.publish_event({"id": stored[0], **entry.as_dict()}))
        self.writer.submit(Steps(*steps))
        return entry

    def alarm(self, now: Instant, kind: str, detail: str) -> None:
        """Raise an alarm: logged, kept for status, and reported."""
        log.warning("alarm %s: %s", kind, detail)
        call_id = self.line.call_id if hasattr(self, "line") else None
        self.alarms.append(self.record(now, "alarm", call_id, None, {"alarm": kind, "detail": detail}))

    def strike(self, action: a.RecordStrike, now: Instant) -> None:
        """Count a strike; at the threshold propose the number for the blocklist (and block it locally if set)."""
        lists = self.config.lists
        store = self.store
        counts: list[int] = []  # steps, so that a retry after a failed write counts the strike once

        def count() -> None:
            counts.append(
                store.add_strike(
                    action.number, action.call_id, now.wall, action.basis, lists.strike_window_days
                )
            )

        def report() -> None:
            data = {"number": action.number, "strikes": counts[0]}
            self.record(now, "strike", action.call_id, action.basis, data)
            if counts[0] >= lists.strikes_to_propose:
                self.record(now, "block_proposed", action.call_id, action.basis, {"number": action.number})

        def block() -> None:
            if counts[0] >= lists.strikes_to_propose and lists.auto_block:
                store.block_locally(action.number, now.wall, f"{counts[0]} strikes")
                self.inject_block(action.number)

        self.writer.submit(Steps(count, report, block))

    def _store_failing(self, detail: str) -> None:
        # Called on the writer's side; the alarm's own event waits in the backlog behind the failed write.
        self.alarm(self.clock.now(), "store_failing", f"{detail}; writes are kept in memory and retried")

    def _store_overflow(self, cap: int) -> None:
        self.alarm(self.clock.now(), "store_backlog_full", f"{cap} writes waiting; newer ones are lost")

    def _store_resumed(self, info: dict[str, Any]) -> None:
        self.record(
            self.clock.now(),
            "store_resumed",
            self.line.call_id if hasattr(self, "line") else None,
            None,
            info,
        )

    def inject_block(self, number: str) -> None:
        """Add a number to the blocklist the machine uses (applied between events)."""
        self._apply_blocks([number])

    def _apply_blocks(self, numbers: list[str]) -> None:
        lists = self.config.lists
        merged = tuple(dict.fromkeys([*lists.blocklist, *numbers]))
        self.apply_config(
            self.config.model_copy(update={"lists": lists.model_copy(update={"blocklist": merged})})
        )

    def apply_config(self, config: Config) -> None:
        """Swap in a new (validated) config; the call in progress keeps its state."""
        old, self.config = self.config, config
        if hasattr(self, "line"):
            self.line.machine = CallMachine(config)
            # The learned echo path is kept unless its own settings change: an unrelated edit (a number
            # blocked mid-call, an MQTT setting) must neither leave the staff's echo uncancelled in double
            # talk until the path is learned again nor zero the echo health counters.
            if line_echo_settings(old) != line_echo_settings(config):
                self.line.echo = line_echo(config)
            self.prompts = PromptLibrary(config.prompts, cache_dir=self.data_dir / "cache")

    # -- status -------------------------------------------------------------------------------------

    @staticmethod
    def _part_health(part: object, missing: str) -> dict[str, Any]:
        if part is None:
            return {"state": "not available", "reason": missing}
        health = getattr(part, "health", None)
        report: dict[str, Any] = health() if callable(health) else {}
        return {"state": "on", **report}

    def status(self) -> dict[str, Any]:
        """Everything a technician or central IT wants at a glance."""
        state = self.line.state
        call = state.call
        return {
            "device": self.config.device.id,
            "site": self.config.device.site,
            "line": {
                "id": state.line,
                "phase": state.phase.value,
                "call_id": call.call_id if call else None,
                "number": call.number if call else None,
                "phone_off_hook": state.phone_off_hook,
                "bypass": state.bypass,
                "faults": sorted(state.faults),
            },
            "recorder": self._part_health(self.recorder, self.recorder_missing),
            "detector": {
                **self._part_health(self.detector, self.detector_missing),
                "echo_frames_withheld": self.line.echo.echo_frames,
                "echo_return_loss_db": round(self.line.echo.return_loss_db, 1),
                "echo_cancelled_db": _rounded(self.line.echo.cancelled_db),
                "echo_delay_ms": _rounded(self.line.echo.delay_ms),
                "echo_path_changes": self.line.echo.swaps + self.line.echo.resets,
            },
            "writer": self.writer.health(),
            "alarms": [r.as_dict() for r in list(self.alarms)[-5:]],
        }
