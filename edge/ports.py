"""Ports: the small protocols the appliance needs from hardware; the ``pi`` and ``sim`` backends meet them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.core.events import Event

SAMPLE_RATE = 8000
"""Every leg is handled at 8 kHz inside the appliance; backends resample at their edge."""
FRAME_SAMPLES = 160
"""20 ms at 8 kHz: the unit every detector, recorder and mixer works in."""
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE

Pcm = npt.NDArray[np.int16]
"""One leg's samples: 16-bit linear PCM, 8 kHz, mono."""

EventSink = Callable[[Event], None]
"""Where a backend delivers hardware events (ring, hook, button, loop drop); must be thread-safe."""


@dataclass(frozen=True)
class AudioFrame:
    """20 ms of both legs as heard by the box: ``line`` from the caller, ``phone`` from the staff."""

    line: Pcm
    phone: Pcm


class LinePort(Protocol):
    """The FXO side: the wall line, through a DAA."""

    def set_off_hook(self, off_hook: bool) -> None:
        """Seize (True) or release (False) the line."""


class PhonePort(Protocol):
    """The FXS side: the desk phone, through a SLIC."""

    def start_ringing(self, number: str | None, name: str | None) -> None:
        """Ring with the configured cadence; the caller ID goes out between the first two rings."""

    def stop_ringing(self) -> None:
        """Stop ringing now."""


class RelayPort(Protocol):
    """The bypass relay and the external watchdog that holds it."""

    def set_bypass(self, on: bool) -> None:
        """``True`` drops the relay: the phone is wired straight to the wall line."""

    def kick_watchdog(self) -> None:
        """Prove the audio loop is alive; without kicks the relay falls back to bypass."""

    @property
    def bypass(self) -> bool:
        """Whether the phone is on the wall line directly."""


class IndicatorPort(Protocol):
    """The staff LED."""

    def set_pattern(self, pattern: str) -> None:
        """``off``, ``on``, ``blink`` (staff alert) or ``fast`` (fault)."""


class AudioPort(Protocol):
    """Full-duplex audio of both legs, 8 kHz, 20 ms frames."""

    def read(self, timeout: float) -> AudioFrame | None:
        """The next captured frame, or ``None`` when none came within ``timeout`` seconds."""

    def write(self, line: Pcm, phone: Pcm) -> None:
        """Queue one frame towards the line (caller hears) and the phone (staff hears)."""


class Hardware(Protocol):
    """One backend's ports for one line, plus its life cycle."""

    @property
    def line(self) -> LinePort:
        """The FXO port."""

    @property
    def phone(self) -> PhonePort:
        """The FXS port."""

    @property
    def relays(self) -> RelayPort:
        """The bypass relay and watchdog."""

    @property
    def led(self) -> IndicatorPort:
        """The staff LED."""

    @property
    def audio(self) -> AudioPort:
        """Both audio legs."""

    def start(self, sink: EventSink) -> None:
        """Begin delivering hardware events to ``sink``."""

    def close(self) -> None:
        """Release the hardware; the relay must end in bypass."""
