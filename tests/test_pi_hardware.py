"""The pi backend on gpiozero's MockFactory: pin states and their order through a whole call, fail-safe on kill."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.backends.pi.hardware import PiHardware
from edge.backends.pi.pinmap import load_pinmap
from edge.backends.pi.settings import PiConfig
from edge.core.events import (
    ButtonPressed,
    Event,
    FarEndHangup,
    PhoneOffHook,
    PhoneOnHook,
    RingStarted,
    RingStopped,
)
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm

PINS = {name: spec.bcm for name, spec in load_pinmap().pins.items()}
WATCHDOG_TIMEOUT_S = 1.5
"""The external monostable's period (hw/failsafe.md): no WDT_KICK edge for this long releases the coil."""


class JournalPin(MockPWMPin):
    """A mock pin that also logs every level change, in order across pins, to its factory (and a file)."""

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            entry = (time.monotonic(), self._number, float(value))
            factory: JournalFactory = self._factory
            factory.journal.append(entry)
            if factory.journal_fd is not None:
                os.write(factory.journal_fd, f"{entry[0]:.6f} {entry[1]} {entry[2]:g}\n".encode())
        return changed


class JournalFactory(MockFactory):
    """MockFactory whose pins journal their changes (``journal_path`` lets another process read them)."""

    def __init__(self, journal_path: str | None = None) -> None:
        super().__init__(revision="c03112", pin_class=JournalPin)
        self.journal: list[tuple[float, int, float]] = []
        self.journal_fd = (
            os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if journal_path else None
        )

    def level(self, name: str) -> float:
        return float(self.pin(PINS[name]).state)

    def changes(self, *names: str, since: float = 0.0) -> list[tuple[str, float]]:
        """(pin name, level) for every change of the named pins after ``since``, in order."""
        wanted = {PINS[n]: n for n in names}
        return [(wanted[bcm], v) for t, bcm, v in self.journal if bcm in wanted and t >= since]


class CountingAudio:
    """A real in-memory AudioPort whose capture can be stopped, to stand for a stalled sound device."""

    def __init__(self) -> None:
        self.frames_captured = 0
        self.flowing = True

    def read(self, timeout: float) -> AudioFrame | None:
        if not self.flowing:
            time.sleep(timeout)
            return None
        self.frames_captured += 1
        silence: Pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return AudioFrame(line=silence, phone=silence)

    def write(self, line: Pcm, phone: Pcm) -> None:
        pass


def fast_settings(**overrides: Any) -> PiConfig:
    values: dict[str, Any] = {
        "debounce_ms": 10,
        "long_press_s": 0.5,
        "ring_min_burst_s": 0.1,
        "ring_gap_s": 0.25,
        "phone_ring_on_s": 0.2,
        "phone_ring_off_s": 0.3,
        "loop_drop_ms": 100,
        "seize_settle_ms": 50,
        "watchdog_kick_min_s": 0.0,
    }
    values.update(overrides)
    return PiConfig(**values)


class Events:
    """A thread-safe sink that lets a test wait for an event."""

    def __init__(self) -> None:
        self.items: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait_for(self, event: Event, timeout: float = 2.0, count: int = 1) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.items.count(event) >= count, timeout):
                raise AssertionError(f"{event!r} did not come; got {self.items!r}")


@pytest.fixture
def board() -> Iterator[tuple[PiHardware, JournalFactory, Events, CountingAudio]]:
    factory = JournalFactory()
    audio = CountingAudio()
    hw = PiHardware(fast_settings(), pin_factory=factory, audio=audio)
    events = Events()
    hw.start(events)
    try:
        yield hw, factory, events, audio
    finally:
        hw.close()


def ring_burst(factory: JournalFactory, seconds: float, hz: float = 25.0) -> None:
    """CPC5622 RING pulses low at the ring frequency for ``seconds``."""
    pin = factory.pin(PINS["daa_ring"])
    for _ in range(int(seconds * hz)):
        pin.drive_low()
        time.sleep(0.5 / hz)
        pin.drive_high()
        time.sleep(0.5 / hz)


def test_outputs_start_released_and_relay_in_bypass() -> None:
    factory = JournalFactory()
    hw = PiHardware(fast_settings(), pin_factory=factory, audio=CountingAudio())
    try:
        assert factory.level("relay_en") == 0  # coil off: phone on the wall line
        assert factory.level("daa_oh") == 1  # active-low OH released: on hook
        assert factory.level("daa_cid") == 1
        assert factory.level("slic_rm") == 0 and factory.level("slic_fr") == 0
        assert factory.level("slic_pd") == 1  # SLIC powered down while in bypass
        assert hw.relays.bypass
        # Setting up never glitched a dangerous output to its asserted level, not even for a moment.
        dangerous = {PINS["relay_en"]: 1.0, PINS["daa_oh"]: 0.0, PINS["slic_rm"]: 1.0, PINS["slic_fr"]: 0.5}
        assert [(bcm, v) for _, bcm, v in factory.journal if dangerous.get(bcm) == v] == []
        assert factory.journal  # the journal does see changes (daa_oh and slic_pd were driven high)
    finally:
        hw.close()


def test_ring_answer_warning_cut_scenario_pin_order(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, events, _audio = board
    t0 = time.monotonic()

    # Idle: the box steps into the line (SLIC powered before the coil pulls in).
    hw.relays.set_bypass(False)
    assert factory.changes("slic_pd", "relay_en", since=t0) == [("slic_pd", 0.0), ("relay_en", 1.0)]

    # 1. The wall line rings: one burst of 25 Hz pulses.
    ring_burst(factory, 0.4)
    events.wait_for(RingStarted())
    events.wait_for(RingStopped())

    # 2. The core answers: OH asserted (active low), loop current flows.
    t1 = time.monotonic()
    hw.line.set_off_hook(True)
    factory.pin(PINS["loop_detect"]).drive_low()
    assert factory.changes("daa_oh", since=t1) == [("daa_oh", 0.0)]

    # 3. Ring the desk phone: RM then F/R at 20 Hz; caller ID in the first pause; staff lifts (ring trip).
    sent: list[tuple[str | None, str | None]] = []
    hw.phone.caller_id_sender = lambda number, name: sent.append((number, name))
    t2 = time.monotonic()
    hw.phone.start_ringing("0212345678", "민원인")
    assert factory.pin(PINS["slic_fr"]).frequency == pytest.approx(20.0)
    time.sleep(0.65)  # one burst (0.2 s) and most of the pause (0.3 s), then the second burst begins
    assert sent == [("0212345678", "민원인")]
    factory.pin(PINS["slic_shk"]).drive_high()
    events.wait_for(PhoneOffHook())
    assert not hw.phone.ringing
    ring_pins = factory.changes("slic_rm", "slic_fr", since=t2)
    assert ring_pins[:4] == [("slic_rm", 1.0), ("slic_fr", 0.5), ("slic_fr", 0.0), ("slic_rm", 0.0)]
    assert ring_pins[-2:] == [("slic_fr", 0.0), ("slic_rm", 0.0)]  # ringing ended in talk mode
    assert factory.level("slic_rm") == 0 and factory.level("slic_fr") == 0

    # 4. Warning: staff presses the button briefly; the LED blinks for the alert.
    button = factory.pin(PINS["button"])
    button.drive_low()
    time.sleep(0.1)
    button.drive_high()
    events.wait_for(ButtonPressed(long=False))
    hw.led.set_pattern("blink")
    time.sleep(0.05)
    assert factory.changes("led", since=t2) == [("led", 1.0)]

    # 5. Cut: a long press fires while still held; the core releases the line.
    button.drive_low()
    events.wait_for(ButtonPressed(long=True), timeout=1.5)
    button.drive_high()
    assert factory.changes("led", since=t2)[:2] == [("led", 1.0), ("led", 0.0)]  # blinking, 0.5 s on
    t3 = time.monotonic()
    hw.line.set_off_hook(False)
    factory.pin(PINS["loop_detect"]).drive_high()  # current stops because we hung up: no far-end hang-up
    factory.pin(PINS["slic_shk"]).drive_low()
    events.wait_for(PhoneOnHook())
    assert factory.changes("daa_oh", since=t3) == [("daa_oh", 1.0)]
    time.sleep(0.2)
    assert not any(isinstance(e, FarEndHangup) for e in events.items)
    assert ButtonPressed(long=False) in events.items and events.items.count(ButtonPressed(long=True)) == 1

    # 6. The daemon closes: relay released before anything else, SLIC powered down.
    t4 = time.monotonic()
    hw.close()
    after = factory.changes("relay_en", "slic_pd", "daa_oh", since=t4)
    assert after[:2] == [("relay_en", 0.0), ("slic_pd", 1.0)]
    # Released pins fall to their resistors; the relay's pull-down keeps it in bypass.
    assert factory.level("relay_en") == 0
    kinds = [type(e).__name__ for e in events.items]
    assert kinds == [
        "RingStarted",
        "RingStopped",
        "PhoneOffHook",
        "ButtonPressed",
        "ButtonPressed",
        "PhoneOnHook",
    ]


def test_far_end_hangup_from_loop_current(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, events, _ = board
    loop = factory.pin(PINS["loop_detect"])
    loop.drive_low()  # current flows
    hw.line.set_off_hook(True)
    time.sleep(0.2)
    assert events.items == []
    loop.drive_high()  # the exchange dropped the loop
    events.wait_for(FarEndHangup(cause="loop_drop"))
    assert events.items.count(FarEndHangup(cause="loop_drop")) == 1


def test_bypass_change_waits_for_the_ring_burst_to_end(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, events, _ = board
    stop = threading.Event()
    ringer = threading.Thread(target=lambda: ring_burst(factory, 0.5))
    ringer.start()
    events.wait_for(RingStarted())
    hw.relays.set_bypass(False)
    assert factory.level("relay_en") == 0  # not switched mid-burst
    ringer.join()
    stop.set()
    events.wait_for(RingStopped())
    time.sleep(0.02)
    assert factory.level("relay_en") == 1
    stopped_at = next(t for t, bcm, v in factory.journal if bcm == PINS["relay_en"] and v == 1.0)
    last_pulse = max(t for t, bcm, _ in factory.journal if bcm == PINS["daa_ring"])
    assert stopped_at > last_pulse


def test_watchdog_is_kicked_only_while_audio_flows(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, _, audio = board
    for _ in range(5):
        audio.read(0.02)
        hw.relays.kick_watchdog()
    assert len(factory.changes("wdt_kick")) == 5
    audio.flowing = False
    for _ in range(5):
        audio.read(0.001)
        hw.relays.kick_watchdog()
    assert len(factory.changes("wdt_kick")) == 5
    assert hw.relays.kicks_refused == 5
    stats = hw.stats()
    assert (stats["watchdog_kicks"], stats["watchdog_kicks_refused"], stats["bypass"]) == (5, 5, True)


def test_off_hook_phone_is_never_rung(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, events, _ = board
    factory.pin(PINS["slic_shk"]).drive_high()
    events.wait_for(PhoneOffHook())
    hw.phone.start_ringing("021", None)
    time.sleep(0.05)
    assert factory.level("slic_rm") == 0 and factory.level("slic_fr") == 0


def coil_engaged(journal: list[tuple[float, int, float]], at: float) -> bool:
    """The board's fail-safe rule (hw/failsafe.md): coil = RELAY_EN and a WDT_KICK edge within the timeout."""
    relay = 0.0
    last_kick = -1e9
    for t, bcm, value in journal:
        if t > at:
            break
        if bcm == PINS["relay_en"]:
            relay = value
        elif bcm == PINS["wdt_kick"]:
            last_kick = t
    return relay == 1.0 and at - last_kick < WATCHDOG_TIMEOUT_S


def test_stalled_audio_starves_the_watchdog_and_the_relay_drops(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, _, audio = board
    hw.relays.set_bypass(False)
    for _ in range(3):
        audio.read(0.01)
        hw.relays.kick_watchdog()
    now = time.monotonic()
    assert coil_engaged(factory.journal, now)
    audio.flowing = False
    for _ in range(3):
        hw.relays.kick_watchdog()  # the loop still runs, but no audio: no kicks go out
    assert not coil_engaged(factory.journal, now + WATCHDOG_TIMEOUT_S + 0.01)


CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from test_pi_hardware import JournalFactory, CountingAudio, fast_settings
from edge.backends.pi.hardware import PiHardware
factory = JournalFactory({journal!r})
audio = CountingAudio()
hw = PiHardware(fast_settings(), pin_factory=factory, audio=audio)
hw.start(lambda event: None)
hw.relays.set_bypass(False)
hw.line.set_off_hook(True)
print("engaged", flush=True)
while True:  # the audio loop: a frame, then a kick
    audio.read(0.02)
    hw.relays.kick_watchdog()
    time.sleep(0.02)
"""


def _journal(path: Path) -> list[tuple[float, int, float]]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(float(t), int(bcm), float(v)) for t, bcm, v in rows]


def _start_daemon(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    journal = tmp_path / "pins.log"
    code = CHILD.format(tests=str(Path(__file__).parent), journal=str(journal))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "engaged"
    time.sleep(0.3)
    return proc, journal


def test_sigterm_leaves_the_relay_pins_in_bypass(tmp_path: Path) -> None:
    proc, journal = _start_daemon(tmp_path)
    assert coil_engaged(_journal(journal), time.monotonic())
    term_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == -signal.SIGTERM  # still dies of the signal, as systemd expects
    rows = _journal(journal)
    driven = [(name, v) for t, bcm, v in rows if t >= term_at for name in PINS if PINS[name] == bcm]
    # Relay released first, SLIC powered down, line put back on hook (OH is active low).
    assert driven[:3] == [("relay_en", 0.0), ("slic_pd", 1.0), ("daa_oh", 1.0)]
    assert {bcm: v for _, bcm, v in rows}[PINS["relay_en"]] == 0.0
    assert not coil_engaged(rows, time.monotonic())


def test_sigkill_stops_the_kicks_so_the_external_watchdog_drops_the_relay(tmp_path: Path) -> None:
    proc, journal = _start_daemon(tmp_path)
    rows = _journal(journal)
    kicks = [t for t, bcm, _ in rows if bcm == PINS["wdt_kick"]]
    assert len(kicks) >= 5
    assert max(b - a for a, b in itertools.pairwise(kicks)) < WATCHDOG_TIMEOUT_S  # the coil never dropped
    proc.kill()
    proc.wait(timeout=5)
    killed_at = time.monotonic()
    rows = _journal(journal)
    assert {bcm: v for _, bcm, v in rows}[PINS["relay_en"]] == 1.0  # nothing ran in the process...
    assert coil_engaged(rows, killed_at)
    # ...but with no more kicks the monostable times out and the coil drops: phone on the wall line.
    assert not coil_engaged(rows, killed_at + WATCHDOG_TIMEOUT_S)


def test_caller_id_path_opens_in_the_ring_pause_only(
    board: tuple[PiHardware, JournalFactory, Events, CountingAudio],
) -> None:
    hw, factory, events, _ = board
    assert factory.level("daa_cid") == 1  # active low: closed
    ring_burst(factory, 0.3)
    events.wait_for(RingStopped())
    time.sleep(0.02)
    assert factory.level("daa_cid") == 0  # open for the FSK between the rings
    ringer = threading.Thread(target=lambda: ring_burst(factory, 0.3))
    ringer.start()
    events.wait_for(RingStarted(), count=2)
    assert factory.level("daa_cid") == 1  # never during a burst
    cid_closed = max(t for t, bcm, v in factory.journal if bcm == PINS["daa_cid"] and v == 1.0)
    second_burst = [
        t for t, bcm, v in factory.journal if bcm == PINS["daa_ring"] and v == 0.0 and t > cid_closed - 0.05
    ]
    assert cid_closed - second_burst[0] < 0.01  # closed on the burst's first pulse, not after qualification
    ringer.join()
    events.wait_for(RingStopped(), count=2)
    time.sleep(0.02)
    assert factory.level("daa_cid") == 0
    hw.line.set_off_hook(True)  # answered: the talk path carries the audio now
    assert factory.level("daa_cid") == 1


def test_caller_id_path_can_stay_open_while_idle() -> None:
    factory = JournalFactory()
    hw = PiHardware(fast_settings(cid_path_idle=True), pin_factory=factory, audio=CountingAudio())
    events = Events()
    hw.start(events)
    try:
        time.sleep(0.25)
        assert factory.level("daa_cid") == 0
        hw.line.set_off_hook(True)
        assert factory.level("daa_cid") == 1
        hw.line.set_off_hook(False)
        time.sleep(0.25)
        assert factory.level("daa_cid") == 0
    finally:
        hw.close()


def test_hardware_pwm_through_sysfs_rings_the_cadence(tmp_path: Path) -> None:
    chip = tmp_path / "pwmchip0"
    (chip / "pwm0").mkdir(parents=True)  # as after `echo 0 > export` on the device
    for name in ("export", "unexport", "pwm0/period", "pwm0/duty_cycle", "pwm0/enable"):
        (chip / name).write_text("")
    factory = JournalFactory()
    settings = fast_settings(ring_pwm="sysfs", pwm_chip=str(chip), phone_ring_hz=25.0)
    hw = PiHardware(settings, pin_factory=factory, audio=CountingAudio())
    hw.start(Events())
    try:
        pwm = chip / "pwm0"
        assert pwm.joinpath("period").read_text() == "40000000\n"  # 25 Hz
        assert pwm.joinpath("enable").read_text() == "0\n"
        hw.phone.start_ringing(None, None)
        assert factory.level("slic_rm") == 1
        assert pwm.joinpath("duty_cycle").read_text() == "20000000\n"  # 50 %
        assert pwm.joinpath("enable").read_text() == "1\n"
        time.sleep(0.3)  # into the pause
        assert pwm.joinpath("enable").read_text() == "0\n" and factory.level("slic_rm") == 0
        hw.phone.stop_ringing()
    finally:
        hw.close()
    assert (chip / "unexport").read_text() == "0\n"
    assert (chip / "pwm0" / "enable").read_text() == "0\n"


def test_from_config_takes_the_staff_long_press_unless_pi_sets_one() -> None:
    from edge.config import parse_config_text

    for text, expected in (
        ("[staff]\nlong_press_s = 0.6\n", 0.6),
        ("[staff]\nlong_press_s = 0.6\n[pi]\nlong_press_s = 0.9\n", 0.9),
    ):
        factory = JournalFactory()
        hw = PiHardware.from_config(parse_config_text(text), pin_factory=factory, audio=CountingAudio())
        events = Events()
        hw.start(events)
        try:
            button = factory.pin(PINS["button"])
            start = time.monotonic()
            button.drive_low()
            events.wait_for(ButtonPressed(long=True), timeout=2.0)
            held = time.monotonic() - start
            button.drive_high()
            assert expected <= held < expected + 0.2
        finally:
            hw.close()


def test_a_pin_in_use_fails_cleanly_and_a_retry_works() -> None:
    from gpiozero import LED, GPIOPinInUse

    factory = JournalFactory()
    squatter = LED(PINS["led"], pin_factory=factory)  # another program holds the LED pin
    with pytest.raises(GPIOPinInUse):
        PiHardware(fast_settings(), pin_factory=factory, audio=CountingAudio())
    squatter.close()
    hw = PiHardware(
        fast_settings(), pin_factory=factory, audio=CountingAudio()
    )  # earlier pins were given back
    try:
        assert hw.relays.bypass
    finally:
        hw.close()
