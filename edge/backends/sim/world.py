"""The simulated world: a wall line with a scripted far end, a desk phone with scripted staff, relays, LED."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.audio import read_wav, synthesize
from edge.core import events as e
from edge.dsp.generate import ToneSource, callerid_fsk, dtmf_digits
from edge.dsp.levels import to_pcm
from edge.ports import FRAME_SAMPLES, AudioFrame, EventSink, Pcm
from edge.scenarios import CallScript, Scenario, Step

RING_ON_S = 1.0
HISTORY_KEPT = 4096
"""Entries of each simulated part's history kept: a sim daemon or soak runs for days, tests read the last few."""
RING_PERIOD_S = 3.0
CID_AFTER_FIRST_RING_S = 0.5
NOISE_SAMPLES = 8000 * 7
STAFF_HANGS_UP_AFTER_S = 2.0
"""How long simulated staff take to put the handset down after the box ends a call."""


@dataclass
class _Speech:
    start: float
    pcm: Pcm


@dataclass
class _CallRun:
    script: CallScript
    index: int
    ring_at: float
    answered_at: float | None = None
    connected_at: float | None = None
    over: bool = False
    anchors_done: set[str] = field(default_factory=set)


def _tone_seconds(kind: str, seconds: float) -> Pcm:
    source = ToneSource(kind)
    return np.concatenate([source.next_frame() for _ in range(round(seconds / 0.02))])


class SimClockSource:
    """Virtual time of the simulation: monotonic seconds since start plus the scenario's wall clock."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.t = 0.0

    def wall(self) -> dt.datetime:
        """The simulated local wall time."""
        return self.start + dt.timedelta(seconds=self.t)


def _log(history: list[Any], entry: Any) -> None:
    """Append to a part's history; past HISTORY_KEPT entries the oldest half is dropped (bounded memory)."""
    history.append(entry)
    if len(history) > HISTORY_KEPT:
        del history[: HISTORY_KEPT // 2]


class SimLine:
    """The FXO port: off hook answers the ringing caller or seizes the line for an outgoing call."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.off_hook = False
        self.history: list[tuple[float, bool]] = []

    def set_off_hook(self, off_hook: bool) -> None:
        """Seize or release the line."""
        if off_hook == self.off_hook:
            return
        self.off_hook = off_hook
        _log(self.history, (self.world.clock.t, off_hook))
        self.world.line_hook_changed(off_hook)


class SimPhone:
    """The FXS port: rings the desk phone; scripted staff pick up after a while."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.ringing = False
        self.off_hook = False
        self.history: list[tuple[float, str]] = []
        self.caller_id_shown: list[tuple[str | None, str | None]] = []

    def start_ringing(self, number: str | None, name: str | None) -> None:
        """Ring the desk phone and show the caller ID."""
        self.ringing = True
        _log(self.caller_id_shown, (number, name))
        _log(self.history, (self.world.clock.t, "ring"))
        self.world.phone_ringing_started()

    def stop_ringing(self) -> None:
        """Stop ringing."""
        if self.ringing:
            self.ringing = False
            _log(self.history, (self.world.clock.t, "ring_stop"))


class SimRelays:
    """The bypass relay and watchdog: state and every change are kept for tests."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self._bypass = True
        self.history: list[tuple[float, bool]] = [(0.0, True)]
        self.kicks = 0

    def set_bypass(self, on: bool) -> None:
        """Drop (True) or engage (False) the relay."""
        if on != self._bypass:
            self._bypass = on
            _log(self.history, (self.world.clock.t, on))

    def kick_watchdog(self) -> None:
        """Count watchdog kicks."""
        self.kicks += 1

    @property
    def bypass(self) -> bool:
        """Whether the phone is wired straight to the line."""
        return self._bypass


class SimLed:
    """The staff LED."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.pattern = "off"
        self.history: list[tuple[float, str]] = []

    def set_pattern(self, pattern: str) -> None:
        """Show a pattern."""
        if pattern != self.pattern:
            self.pattern = pattern
            _log(self.history, (self.world.clock.t, pattern))


CALLER_VOICE = "ko"
"""The espeak-ng voice a scenario's caller speaks with unless a step names one."""
STAFF_VOICE = "ko+m3"
"""The staff member's voice unless a step names one."""


class SimAudio:
    """Audio of both legs as the world makes it; what the box plays is kept for tests and recordings."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.frames_written = 0
        self.keep_output = False
        self.line_out: list[Pcm] = []
        self.phone_out: list[Pcm] = []

    def read(self, timeout: float) -> AudioFrame | None:
        """The frame for the current instant of the world."""
        return self.world.frame()

    def write(self, line: Pcm, phone: Pcm) -> None:
        """Take what the box sends to each leg."""
        self.frames_written += 1
        self.world.sent_to_line(line)
        self.world.sent_to_phone(phone)
        if self.keep_output:
            self.line_out.append(line)
            self.phone_out.append(phone)


class SimHardware:
    """The sim backend's ports, meeting ``edge.ports.Hardware``."""

    def __init__(self, world: SimWorld) -> None:
        self.line = SimLine(world)
        self.phone = SimPhone(world)
        self.relays = SimRelays(world)
        self.led = SimLed(world)
        self.audio = SimAudio(world)
        self._world = world

    def start(self, sink: EventSink) -> None:
        """Deliver the world's events to ``sink``."""
        self._world.sink = sink

    def close(self) -> None:
        """The relay ends in bypass, as the real coil does without power."""
        self.relays.set_bypass(True)


class SimWorld:
    """Plays a scenario against the box: rings, caller ID, speech, hook, keys, button, hang-ups."""

    def __init__(
        self,
        scenario: Scenario | None,
        start: dt.datetime,
        cache_dir: Path | None = None,
        noise_dbov: float = -70.0,
        seed: int = 1,
        echo_return_loss_db: float = 0.0,
    ) -> None:
        self.scenario = scenario
        self.clock = SimClockSource(start)
        self.cache_dir = cache_dir
        self.sink: EventSink = lambda event: None
        self.hardware = SimHardware(self)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._caller_speech: list[_Speech] = []
        self._line_onhook: list[_Speech] = []
        self._staff_speech: list[_Speech] = []
        rng = np.random.default_rng(seed)
        # A few seconds of line noise, cycled: cheap per frame and the same on every run.
        self._noise = rng.normal(0.0, 32768.0 * 10 ** (noise_dbov / 20), NOISE_SAMPLES)
        self._noise_pos = 0
        # 0 dB: no echo (a line that returned all it is sent is no line); the sim's config sets 15 dB for the
        # line (the DAA's hybrid) and the desk phone (the SLIC's) alike.
        self._echo_gain = 10 ** (-echo_return_loss_db / 20) if echo_return_loss_db > 0 else None
        self._echo = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        """What the line leg carries back of the box's last frame to the line (the DAA hybrid's echo)."""
        self._phone_echo = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        """What the phone leg carries back of the box's last frame to the phone (the SLIC's echo)."""
        scripts = scenario.calls if scenario is not None else []
        self.runs = [_CallRun(script, i, script.at) for i, script in enumerate(scripts)]
        self._active: _CallRun | None = None
        self._staff_hangup_pending = False
        self._audio_cache: dict[tuple[str, str], Pcm] = {}
        for run in self.runs:
            self._at(run.ring_at, partial(self._begin, run))

    # -- scheduling ---------------------------------------------------------------------------------

    def _at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), action))

    def _emit(self, event: e.Event) -> None:
        self.sink(event)

    def advance(self, t: float) -> None:
        """Move the world to time ``t``, firing everything due by then."""
        self.clock.t = t
        while self._queue and self._queue[0][0] <= t + 1e-9:
            _, _, action = heapq.heappop(self._queue)
            action()

    @property
    def pending(self) -> bool:
        """Whether anything is still scheduled or a call is still running."""
        return bool(self._queue) or (self._active is not None and not self._active.over)

    @property
    def last_call_start(self) -> float:
        """When the last scripted call begins."""
        return max((run.ring_at for run in self.runs), default=0.0)

    # -- calls --------------------------------------------------------------------------------------

    def _begin(self, run: _CallRun) -> None:
        current = self._active
        if current is not None and not current.over and self.hardware.line.off_hook:
            self._call_waiting(run)
            return
        self._active = run
        script = run.script
        if script.direction == "out":
            self._phone_hook(True)
            self._schedule_steps(run, "ring", run.ring_at)
            if script.number:
                self._at(run.ring_at + 1.0, partial(self._key, script.number))
            return
        if script.number is not None or script.withheld is not None:
            self._at(run.ring_at + RING_ON_S + CID_AFTER_FIRST_RING_S, partial(self._caller_id, run))
        for k in range(script.gives_up_after_rings):
            on = run.ring_at + k * RING_PERIOD_S
            self._at(on, partial(self._ring, run, True))
            self._at(on + RING_ON_S, partial(self._ring, run, False))
        self._at(run.ring_at + script.gives_up_after_rings * RING_PERIOD_S, lambda: self._give_up(run))
        self._schedule_steps(run, "ring", run.ring_at)

    def _call_waiting(self, run: _CallRun) -> None:
        """A second call while the line is busy: the exchange sends type-2 caller ID (short preamble) in-band."""
        script = run.script
        fsk = callerid_fsk(
            script.number, script.name, self.clock.wall(), absence=script.withheld, seizure=False
        )
        self._caller_speech.append(_Speech(self.clock.t + 0.5, fsk))
        run.over = True

    def _caller_id(self, run: _CallRun) -> None:
        """The exchange sends Bell 202 FSK caller ID between the first and second ring."""
        if run.answered_at is None and not run.over:
            script = run.script
            fsk = callerid_fsk(script.number, script.name, self.clock.wall(), absence=script.withheld)
            self._line_onhook.append(_Speech(self.clock.t, fsk))

    def _ring(self, run: _CallRun, on: bool) -> None:
        if run.answered_at is None and not run.over:
            self._emit(e.RingStarted() if on else e.RingStopped())

    def _give_up(self, run: _CallRun) -> None:
        if run.answered_at is None:
            run.over = True

    def line_hook_changed(self, off_hook: bool) -> None:
        """The box seized or released the line."""
        run = self._active
        t = self.clock.t
        if run is None or run.over:
            return
        if off_hook:
            if run.script.direction == "in" and run.answered_at is None:
                run.answered_at = t
                if t - run.ring_at - RING_PERIOD_S * int((t - run.ring_at) / RING_PERIOD_S) < RING_ON_S:
                    self._emit(e.RingStopped())  # answering trips the ring
                self._schedule_steps(run, "answer", t)
            elif run.script.direction == "out" and run.connected_at is None:
                run.connected_at = t + run.script.far_end_answers_after
                self._schedule_steps(run, "connected", run.connected_at)
            return
        run.over = True
        self._caller_speech.clear()
        self._line_onhook.clear()
        if self.hardware.phone.off_hook and not self._staff_hangup_pending:
            self._staff_hangup_pending = True
            self._at(t + STAFF_HANGS_UP_AFTER_S, lambda: self._phone_hook(False))

    def phone_ringing_started(self) -> None:
        """The box rings the desk phone: scripted staff pick up after a while."""
        run = self._active
        if run is None or run.script.pickup_after is None:
            return
        self._at(self.clock.t + run.script.pickup_after, lambda: self._pick_up(run))

    def _pick_up(self, run: _CallRun) -> None:
        if self.hardware.phone.ringing and not run.over:
            self.hardware.phone.stop_ringing()
            self._phone_hook(True)
            run.connected_at = self.clock.t
            self._schedule_steps(run, "connected", self.clock.t)

    def _phone_hook(self, off_hook: bool) -> None:
        phone = self.hardware.phone
        if phone.off_hook == off_hook:
            return
        phone.off_hook = off_hook
        _log(phone.history, (self.clock.t, "off_hook" if off_hook else "on_hook"))
        if not off_hook:
            self._staff_hangup_pending = False
            self._staff_speech.clear()
        self._emit(e.PhoneOffHook() if off_hook else e.PhoneOnHook())

    def _schedule_steps(self, run: _CallRun, anchor: str, t0: float) -> None:
        if anchor in run.anchors_done:
            return
        run.anchors_done.add(anchor)
        for step in run.script.steps:
            if step.anchor == anchor:
                self._at(t0 + step.at, partial(self._do, run, step))

    def _do(self, run: _CallRun, step: Step) -> None:
        if run.over:
            return
        t = self.clock.t
        if step.say is not None:
            self._caller_speech.append(_Speech(t, self._speech(step.say, step.voice or CALLER_VOICE)))
        elif step.wav is not None:
            self._caller_speech.append(_Speech(t, self._file(step.wav)))
        elif step.staff_say is not None:
            self._staff_speech.append(_Speech(t, self._speech(step.staff_say, step.voice or STAFF_VOICE)))
        elif step.hangup == "caller":
            run.over = True
            self._caller_speech.clear()
            if run.script.hangup_signal == "busy_tone":
                # No loop-current signal from this exchange: only the busy tone tells the call is over.
                self._caller_speech.append(_Speech(t, _tone_seconds("busy", 6.0)))
            else:
                self._emit(e.FarEndHangup("loop_drop"))
            if self.hardware.phone.off_hook and not self._staff_hangup_pending:
                self._staff_hangup_pending = True
                self._at(t + STAFF_HANGS_UP_AFTER_S, lambda: self._phone_hook(False))
        elif step.hangup == "staff":
            self._phone_hook(False)
        elif step.press is not None:
            self._emit(e.ButtonPressed(long=step.press == "long"))
        elif step.dtmf is not None:
            self._key(step.dtmf)
        elif step.detect is not None:
            d = step.detect
            self._emit(e.AbuseDetected(d.category, d.tier, d.keyword, d.score, source="scenario"))

    def _key(self, digits: str) -> None:
        """Staff key digits on the handset: DTMF tones on the phone leg, 80 ms on, 80 ms off."""
        if self.hardware.phone.off_hook:
            self._staff_speech.append(_Speech(self.clock.t, dtmf_digits(digits, level_dbm0=-8.0)))

    def _speech(self, text: str, voice: str) -> Pcm:
        key = (voice, text)
        if key not in self._audio_cache:
            self._audio_cache[key] = synthesize(text, voice=voice, cache_dir=self.cache_dir)
        return self._audio_cache[key]

    def _file(self, path: Path) -> Pcm:
        key = ("file", str(path))
        if key not in self._audio_cache:
            self._audio_cache[key] = read_wav(path)
        return self._audio_cache[key]

    def prepare_audio(self) -> None:
        """Synthesize and load every utterance up front, so real-time runs never wait on espeak-ng."""
        for run in self.runs:
            for step in run.script.steps:
                if step.say is not None:
                    self._speech(step.say, step.voice or CALLER_VOICE)
                elif step.staff_say is not None:
                    self._speech(step.staff_say, step.voice or STAFF_VOICE)
                elif step.wav is not None:
                    self._file(step.wav)

    # -- audio --------------------------------------------------------------------------------------

    def _mix(self, speeches: list[_Speech]) -> Pcm:
        t = self.clock.t
        start = self._noise_pos
        self._noise_pos = (start + FRAME_SAMPLES) % (NOISE_SAMPLES - FRAME_SAMPLES)
        out = self._noise[start : start + FRAME_SAMPLES].copy()
        if not speeches:
            return out.astype(np.int16)
        for speech in list(speeches):
            offset = round((t - speech.start) * 8000)
            if offset >= len(speech.pcm):
                speeches.remove(speech)
            elif offset >= 0:
                chunk = speech.pcm[offset : offset + FRAME_SAMPLES].astype(np.float64)
                out[: len(chunk)] += chunk
        return np.asarray(np.clip(out, -32768, 32767), dtype=np.int16)

    def _echo_of(self, pcm: Pcm) -> npt.NDArray[np.float64]:
        """What a leg carries back, one frame later, of a frame the box played to it."""
        if self._echo_gain is None or pcm.size != FRAME_SAMPLES:
            return np.zeros(FRAME_SAMPLES, dtype=np.float64)
        return pcm.astype(np.float64) * self._echo_gain

    @staticmethod
    def _with_echo(pcm: Pcm, echo: npt.NDArray[np.float64]) -> Pcm:
        return to_pcm(pcm + echo)

    def sent_to_line(self, pcm: Pcm) -> None:
        """The box played ``pcm`` to the line: its echo comes back on the line leg in the next frame."""
        self._echo = self._echo_of(pcm)

    def sent_to_phone(self, pcm: Pcm) -> None:
        """The box played ``pcm`` to the desk phone: its echo comes back on the phone leg in the next frame."""
        self._phone_echo = self._echo_of(pcm)

    def frame(self) -> AudioFrame:
        """The 20 ms both legs carry at the current instant."""
        line_live = self.hardware.line.off_hook
        line = self._mix(self._caller_speech) if line_live else self._mix(self._line_onhook)
        if line_live:
            line = self._with_echo(line, self._echo)
        phone_live = self.hardware.phone.off_hook
        phone = self._mix(self._staff_speech) if phone_live else self._mix([])
        if phone_live:
            phone = self._with_echo(phone, self._phone_echo)
        # An echo of one frame, heard once (a leg on hook hears none).
        self._echo = self._phone_echo = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        return AudioFrame(line, phone)

    def caller_is_speaking(self) -> bool:
        """Whether scripted caller speech is playing now (for detection latency checks)."""
        return bool(self._caller_speech)
