"""The Raspberry Pi board as a ``Hardware``: DAA, SLIC, bypass relay, watchdog, button and LED via gpiozero."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edge.backends.pi.audio import AudioUnavailableError, PiAudio
from edge.backends.pi.pinmap import PinMap, PinSpec, load_pinmap
from edge.backends.pi.pwm import GpiozeroRingPwm, RingPwm, SysfsRingPwm
from edge.backends.pi.settings import PiConfig
from edge.backends.pi.signals import Debouncer, LoopMonitor, PressClassifier, RingCadence, RingQualifier
from edge.core.events import (
    ButtonPressed,
    Event,
    FarEndHangup,
    FaultRaised,
    PhoneOffHook,
    PhoneOnHook,
    RingStarted,
    RingStopped,
)
from edge.ports import AudioPort, EventSink

if TYPE_CHECKING:
    from edge.config import Config

log = logging.getLogger(__name__)

TICK_S = 0.005
"""How often the board's timers (debounce, ring qualification, cadence) are looked at while busy."""
IDLE_TICK_S = 0.1
"""The timer thread's pace when nothing is pending; any input edge wakes it at once."""
BUSY_AFTER_EDGE_S = 2.0
""""Busy" lasts this long after an input edge (ring qualification, debounce, long press)."""

DEFAULT_LONG_PRESS_S = 1.5

CallerIdSender = Callable[[str | None, str | None], None]
"""Sends a caller ID (number, name) towards the desk phone; called in the first ring pause, must not block."""

CALLER_ID_WINDOW_S = 4.0
"""How long the caller ID path stays open after a ring burst (the Korean pause is 2 s; FSK starts ~0.5 s in)."""

LED_PATTERNS: dict[str, tuple[float, float] | None] = {"blink": (0.5, 0.5), "fast": (0.1, 0.1)}


@runtime_checkable
class CountsFrames(Protocol):
    """An audio port that counts captured frames, so the watchdog is kicked only while audio flows."""

    @property
    def frames_captured(self) -> int:
        """Frames delivered by the sound device so far."""


def _output(spec: PinSpec, factory: Any) -> Any:
    from gpiozero import DigitalOutputDevice

    return DigitalOutputDevice(
        spec.bcm, active_high=spec.active_high, initial_value=False, pin_factory=factory
    )


def _input(spec: PinSpec, factory: Any) -> Any:
    from gpiozero import DigitalInputDevice

    device = DigitalInputDevice(spec.bcm, pull_up=None, active_state=spec.active_high, pin_factory=factory)
    if spec.pull != "none":
        device.pin.pull = spec.pull
    return device


class _Clocked:
    """State shared by the ports and the board's timer thread, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()


class PiLine:
    """The FXO side: the CPC5622 DAA's OH output; ring and loop current are read by ``PiHardware``."""

    def __init__(self, oh: Any, cid: Any, loop: LoopMonitor, loop_in: Any, shared: _Clocked) -> None:
        self._oh = oh
        self._cid = cid
        self._loop = loop
        self._loop_in = loop_in
        self._shared = shared

    @property
    def off_hook(self) -> bool:
        """Whether the line is seized."""
        return bool(self._oh.is_active)

    def set_off_hook(self, off_hook: bool) -> None:
        """Seize or release the line; loop-current watching follows."""
        with self._shared.lock:
            if off_hook:
                self._cid.off()
                self._oh.on()
                now = time.monotonic()
                self._loop.arm(now)
                self._loop.feed(bool(self._loop_in.is_active), now)
            else:
                self._oh.off()
                self._loop.disarm()

    @property
    def caller_id_path(self) -> bool:
        """Whether the DAA's on-hook caller ID path is open."""
        return bool(self._cid.is_active)

    def set_caller_id_path(self, open_: bool) -> None:
        """Open the DAA's on-hook caller ID path (never while off hook, where the talk path carries audio)."""
        with self._shared.lock:
            if open_ and not self._oh.is_active:
                self._cid.on()
            else:
                self._cid.off()


class PiPhone:
    """The FXS side: the Ag1171 SLIC rung with RM and F/R at the ring frequency, in a 1 s / 2 s cadence."""

    def __init__(self, rm: Any, pwm: RingPwm, settings: PiConfig, shared: _Clocked) -> None:
        self._rm = rm
        self._pwm = pwm
        self._settings = settings
        self._shared = shared
        self._cadence: RingCadence | None = None
        self._burst_on = False
        self._cid: tuple[str | None, str | None] | None = None
        self.caller_id_sender: CallerIdSender | None = None
        """Set by the runtime: sends FSK caller ID on the phone leg; called once in the first ring pause."""
        self.off_hook = False
        self.wake: Callable[[], None] | None = None
        """Wakes the board's timer thread so the cadence runs at the busy pace."""

    @property
    def ringing(self) -> bool:
        """Whether a ring cadence is running."""
        return self._cadence is not None

    def start_ringing(self, number: str | None, name: str | None) -> None:
        """Ring in the configured cadence; an off-hook phone is never rung."""
        with self._shared.lock:
            if self.off_hook:
                return
            self._cadence = RingCadence(
                self._settings.phone_ring_on_s, self._settings.phone_ring_off_s, time.monotonic()
            )
            if self.wake is not None:
                self.wake()
            self._cid = (number, name)
            self.step(time.monotonic())

    def stop_ringing(self) -> None:
        """Stop now: F/R stops first, then RM drops back to talk mode."""
        with self._shared.lock:
            self._cadence = None
            self._cid = None
            self._burst(False)

    def _burst(self, on: bool) -> None:
        if on == self._burst_on:
            return
        self._burst_on = on
        if on:
            self._rm.on()
            self._pwm.set_ringing(True)
        else:
            self._pwm.set_ringing(False)
            self._rm.off()

    def step(self, now: float) -> None:
        """Advance the cadence; called under the lock by the board's timer thread."""
        if self._cadence is None:
            return
        step = self._cadence.at(now)
        self._burst(step.ringing)
        if not step.ringing and self._cid is not None:
            number, name = self._cid
            self._cid = None
            if self.caller_id_sender is not None and (number or name):
                try:
                    self.caller_id_sender(number, name)
                except Exception:
                    log.exception("caller ID sender failed; ringing goes on without caller ID")


class PiRelays:
    """The fail-safe bypass relay (RELAY_EN) and the external watchdog it depends on (WDT_KICK)."""

    def __init__(
        self,
        relay: Any,
        kick: Any,
        pd: Any,
        settings: PiConfig,
        shared: _Clocked,
        line_ringing: Callable[[], bool],
    ) -> None:
        self._relay = relay
        self._kick = kick
        self._pd = pd
        self._settings = settings
        self._shared = shared
        self.progress: Callable[[], int] | None = None
        """Frames captured so far, read at each kick; set by ``PiHardware`` from its audio port."""
        self._line_ringing = line_ringing
        self._last_progress = -1
        self._last_kick = 0.0
        self._pending: bool | None = None
        self.kicks = 0
        """Edges sent to the external watchdog."""
        self.kicks_refused = 0
        """Kicks asked for while the audio loop had not moved on; the watchdog was left to expire."""
        pd.on()

    @property
    def bypass(self) -> bool:
        """Whether the relay is released (phone straight on the wall line)."""
        return not bool(self._relay.is_active)

    def set_bypass(self, on: bool) -> None:
        """Release (True) or engage the relay; a change during a ring burst waits for the burst to end."""
        with self._shared.lock:
            if self._line_ringing():
                self._pending = on
                return
            self._pending = None
            self._apply(on)

    def _apply(self, on: bool) -> None:
        if on:
            self._relay.off()
            self._pd.on()
        else:
            self._pd.off()
            self._relay.on()

    def apply_pending(self) -> None:
        """Carry out a change held back during a ring burst (called when the burst ends)."""
        with self._shared.lock:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                self._apply(pending)

    def force_bypass(self) -> None:
        """Release the relay now, ring or not: the fail-safe path."""
        with self._shared.lock:
            self._pending = None
            self._apply(True)

    def kick_watchdog(self) -> None:
        """Toggle WDT_KICK, but only if the audio loop captured frames since the last kick."""
        with self._shared.lock:
            if self.progress is not None:
                progress = self.progress()
                if progress == self._last_progress:
                    self.kicks_refused += 1
                    return
                self._last_progress = progress
            now = time.monotonic()
            if now - self._last_kick < self._settings.watchdog_kick_min_s:
                return
            self._last_kick = now
            self._kick.toggle()
            self.kicks += 1


class PiLed:
    """The staff LED: ``off``, ``on``, ``blink`` (staff alert) or ``fast`` (fault)."""

    def __init__(self, led: Any) -> None:
        self._led = led
        self.pattern = "off"

    def set_pattern(self, pattern: str) -> None:
        """Show a pattern; an unknown name shows ``fast`` so a bug is visible rather than silent."""
        if pattern not in ("off", "on", *LED_PATTERNS):
            log.warning("unknown LED pattern %r, showing 'fast'", pattern)
            pattern = "fast"
        if pattern == self.pattern:
            return
        self.pattern = pattern
        timing = LED_PATTERNS.get(pattern)
        if timing is not None:
            self._led.blink(on_time=timing[0], off_time=timing[1], background=True)
        elif pattern == "on":
            self._led.on()
        else:
            self._led.off()


class PiHardware:
    """The lineguard board on a Raspberry Pi; ``pin_factory`` is gpiozero's (MockFactory in tests)."""

    def __init__(
        self,
        settings: PiConfig,
        pin_factory: Any = None,
        audio: AudioPort | None = None,
        pinmap: PinMap | None = None,
    ) -> None:
        self.settings = settings
        self.pinmap = pinmap if pinmap is not None else load_pinmap(settings.pinmap)
        self._factory = pin_factory
        self._shared = _Clocked()
        self._sink: EventSink | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_edge = -1e9
        self._thread: threading.Thread | None = None
        self._closed = False
        self._devices: list[Any] = []
        self.events_sent = 0
        pins = self.pinmap

        try:
            # Safe outputs first: the relay and the line are driven released before anything else exists.
            relay = self._add(_output(pins["relay_en"], pin_factory))
            oh = self._add(_output(pins["daa_oh"], pin_factory))
            rm = self._add(_output(pins["slic_rm"], pin_factory))
            kick = self._add(_output(pins["wdt_kick"], pin_factory))
            cid = self._add(_output(pins["daa_cid"], pin_factory))
            pd = self._add(_output(pins["slic_pd"], pin_factory))
            led = self._add(_output(pins["led"], pin_factory))
            self._pwm = self._ring_pwm(pins["slic_fr"])

            self._ring_in = self._add(_input(pins["daa_ring"], pin_factory))
            self._loop_in = self._add(_input(pins["loop_detect"], pin_factory))
            self._shk_in = self._add(_input(pins["slic_shk"], pin_factory))
            self._button_in = self._add(_input(pins["button"], pin_factory))
        except BaseException:
            # A pin in use or a missing PWM chip: give back what was claimed, so a retry can succeed.
            self._release_pins()
            raise

        s = settings
        self._ring = RingQualifier(
            s.ring_min_hz, s.ring_max_hz, s.ring_min_burst_s, s.ring_gap_s, s.ring_pulse_debounce_ms / 1000
        )
        self._loop = LoopMonitor(s.loop_drop_ms / 1000, s.seize_settle_ms / 1000, s.polarity_reversal_hangup)
        self._hook = Debouncer(s.debounce_ms / 1000, level=bool(self._shk_in.is_active))
        self._press = PressClassifier(s.long_press_s or DEFAULT_LONG_PRESS_S, s.debounce_ms / 1000)

        self.line = PiLine(oh, cid, self._loop, self._loop_in, self._shared)
        self.phone = PiPhone(rm, self._pwm, settings, self._shared)
        self.phone.off_hook = self._hook.level
        self.phone.wake = self._wake.set
        self.relays = PiRelays(relay, kick, pd, settings, self._shared, lambda: self._ring.ringing)
        self.led = PiLed(led)
        self.audio: AudioPort = audio if audio is not None else PiAudio(settings)
        if isinstance(self.audio, CountsFrames):
            counted = self.audio
            self.relays.progress = lambda: counted.frames_captured

        self._ring_in.when_activated = lambda: self._edge(self._ring_pulse)
        self._loop_in.when_activated = lambda: self._edge(lambda t: self._loop_event(True, t))
        self._loop_in.when_deactivated = lambda: self._edge(lambda t: self._loop_event(False, t))
        self._shk_in.when_activated = lambda: self._edge(lambda t: self._hook.feed(True, t))
        self._shk_in.when_deactivated = lambda: self._edge(lambda t: self._hook.feed(False, t))
        self._button_in.when_activated = lambda: self._edge(lambda t: self._press.feed(True, t))
        self._button_in.when_deactivated = lambda: self._edge(lambda t: self._press.feed(False, t))
        self._polarity_pending: str | None = None
        self._cid_until: float | None = None

        _live_boards.add(self)

    @classmethod
    def from_config(
        cls, config: Config, pin_factory: Any = None, audio: AudioPort | None = None
    ) -> PiHardware:
        """The board for a whole config: ``[pi]``, with ``[staff].long_press_s`` unless ``[pi]`` sets its own."""
        settings = config.pi
        if settings.long_press_s is None:
            settings = settings.model_copy(update={"long_press_s": config.staff.long_press_s})
        return cls(settings, pin_factory=pin_factory, audio=audio)

    def _release_pins(self) -> None:
        pwm = getattr(self, "_pwm", None)
        if pwm is not None:
            with contextlib.suppress(Exception):
                pwm.close()
        for device in reversed(self._devices):
            with contextlib.suppress(Exception):
                device.close()
        self._devices.clear()

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def _ring_pwm(self, spec: PinSpec) -> RingPwm:
        if self.settings.ring_pwm == "sysfs":
            return SysfsRingPwm(
                Path(self.settings.pwm_chip), self.settings.pwm_channel, self.settings.phone_ring_hz
            )
        return GpiozeroRingPwm(spec.bcm, self.settings.phone_ring_hz, spec.active_high, self._factory)

    def _edge(self, feed: Callable[[float], None]) -> None:
        with self._shared.lock:
            now = time.monotonic()
            self._last_edge = now
            feed(now)
        self._wake.set()

    def _busy(self, now: float) -> bool:
        with self._shared.lock:
            return self.phone.ringing or now - self._last_edge < BUSY_AFTER_EDGE_S or self._loop.pending

    def _ring_pulse(self, t: float) -> None:
        self._ring.pulse(t)
        # Ring voltage must not reach the caller-ID path: close it on the first pulse, before qualification.
        if self.line.caller_id_path:
            self.line.set_caller_id_path(False)

    def _loop_event(self, current: bool, t: float) -> None:
        cause = self._loop.feed(current, t)
        if cause is not None:
            self._polarity_pending = cause

    def start(self, sink: EventSink) -> None:
        """Deliver events to ``sink`` from the board's timer thread; SIGTERM first puts the relay in bypass."""
        self._sink = sink
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pi-board", daemon=True)
            self._thread.start()
        _install_sigterm_bypass()
        open_audio = getattr(self.audio, "open", None)
        if callable(open_audio):
            try:
                open_audio()
            except AudioUnavailableError as exc:
                # No sound device: the relay stays in bypass and calls go on unguarded; reads keep retrying.
                self._emit(FaultRaised(kind="audio", detail=str(exc)))

    def _emit(self, event: Event) -> None:
        if self._sink is None:
            return
        self.events_sent += 1
        try:
            self._sink(event)
        except Exception:
            log.exception("event sink failed on %r", event)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self.poll(now)
            self._wake.wait(TICK_S if self._busy(now) else IDLE_TICK_S)
            self._wake.clear()

    def poll(self, now: float) -> None:
        """Look at every timer once: emits the events that became due by ``now``."""
        events: list[Event] = []
        with self._shared.lock:
            ring = self._ring.poll(now)
            if ring == "start":
                events.append(RingStarted())
            elif ring == "stop":
                events.append(RingStopped())
                self.relays.apply_pending()
            self._caller_id_window(ring, now)
            hook = self._hook.poll(now)
            if hook is True:
                # Ring trip: an off-hook phone is never left ringing, whatever the core does next.
                self.phone.off_hook = True
                self.phone.stop_ringing()
                events.append(PhoneOffHook())
            elif hook is False:
                self.phone.off_hook = False
                events.append(PhoneOnHook())
            press = self._press.poll(now)
            if press is not None:
                events.append(ButtonPressed(long=press))
            cause = self._polarity_pending or self._loop.poll(now)
            self._polarity_pending = None
            if cause is not None:
                events.append(FarEndHangup(cause=cause))
            self.phone.step(now)
        for event in events:
            self._emit(event)

    def _caller_id_window(self, ring: str | None, now: float) -> None:
        """The DAA passes on-hook caller ID only with CID asserted: open it in ring pauses, never in a burst."""
        if ring == "start":
            self.line.set_caller_id_path(False)
            self._cid_until = None
        elif ring == "stop" and not self.line.off_hook:
            self.line.set_caller_id_path(True)
            self._cid_until = now + CALLER_ID_WINDOW_S
        elif self.line.off_hook:
            self._cid_until = None
        elif self._cid_until is not None and now >= self._cid_until:
            self._cid_until = None
            self.line.set_caller_id_path(self.settings.cid_path_idle)
        elif self.settings.cid_path_idle and not self._ring.ringing and not self.line.caller_id_path:
            self.line.set_caller_id_path(True)

    def stats(self) -> dict[str, int | str | bool]:
        """Counters for health reports: relay, watchdog kicks, rejected ring pulses, events, audio."""
        out: dict[str, int | str | bool] = {
            "bypass": self.relays.bypass,
            "watchdog_kicks": self.relays.kicks,
            "watchdog_kicks_refused": self.relays.kicks_refused,
            "ring_pulses_rejected": self._ring.rejected,
            "loop_current_seen": self._loop.seen_current,
            "events_sent": self.events_sent,
        }
        audio_stats = getattr(self.audio, "stats", None)
        if callable(audio_stats):
            out.update({f"audio_{key}": value for key, value in audio_stats().items()})
        return out

    def close(self) -> None:
        """Stop, leave the relay in bypass, the line on hook and the SLIC quiet, and release every pin."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        with self._shared.lock:
            self.relays.force_bypass()
            self.phone.stop_ringing()
            self.line.set_off_hook(False)
            self.led.set_pattern("off")
        close_audio = getattr(self.audio, "close", None)
        if callable(close_audio):
            with contextlib.suppress(Exception):
                close_audio()
        self._release_pins()
        _live_boards.discard(self)


_live_boards: weakref.WeakSet[PiHardware] = weakref.WeakSet()


def bypass_all() -> None:
    """Put every open board in bypass (atexit and SIGTERM path)."""
    for board in list(_live_boards):
        with contextlib.suppress(Exception):
            board.close()


atexit.register(bypass_all)

_sigterm_installed = False


def _sigterm_bypass(signum: int, frame: FrameType | None) -> None:
    bypass_all()
    # Die of the signal as before, so systemd sees the usual exit status.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_sigterm_bypass() -> None:
    """Release the relay on SIGTERM, unless the program already handles SIGTERM itself."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_bypass)
        _sigterm_installed = True
