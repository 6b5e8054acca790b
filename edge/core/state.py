"""The call machine's state: one immutable value per line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Phase(StrEnum):
    """Where a line is in the call flow."""

    IDLE = "idle"
    RINGING = "ringing"
    """The wall line rings; caller ID is being captured; not answered yet."""
    ANNOUNCING = "announcing"
    """The box answered and plays a message (recording notice, calendar, block notice)."""
    RINGING_PHONE = "ringing_phone"
    """The desk phone rings; the caller hears ringback."""
    CONNECTED = "connected"
    """Caller and staff are bridged."""
    RELEASING = "releasing"
    """The line was released but the desk phone is still off hook."""


class After(StrEnum):
    """What the machine does when the prompt it is playing finishes."""

    NOTHING = "nothing"
    NOTICE = "notice"
    """Play the recording notice (after a 'please hold' calendar message)."""
    RING_PHONE = "ring_phone"
    CUT = "cut"
    """Play the cut prompt (after the warning of a warn-then-cut)."""
    RELEASE = "release"


@dataclass(frozen=True)
class Instant:
    """The clock as the machine sees it: monotonic seconds for timers, local wall time for the calendar."""

    mono: float
    wall: dt.datetime


@dataclass(frozen=True)
class Call:
    """What the machine knows about the call in progress."""

    call_id: str
    direction: str
    started: float
    number: str | None = None
    name: str | None = None
    absence: str | None = None
    opened: bool = False
    """An OpenCall was emitted (so a CloseCall is owed)."""
    recording: bool = False
    bridged: bool = False
    phone_ringing: bool = False
    tones: bool = False
    connected_at: float | None = None
    phone_ring_started: float | None = None
    prompt: str | None = None
    """The prompt playing on the line now, if any."""
    after: After = After.NOTHING
    outcome: str = "completed"
    basis: str | None = None
    warnings: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    cutting: bool = False
    refractory_until: float = 0.0
    duration_noticed: bool = False
    duration_notice_due: bool = False
    dtmf: str = ""
    dtmf_at: float = 0.0
    alerted: bool = False

    @property
    def total_warnings(self) -> int:
        """Warnings given in this call across all categories and staff requests."""
        return sum(self.warnings.values())


@dataclass(frozen=True)
class LineState:
    """Everything the machine carries between events for one line."""

    line: str = "L1"
    phase: Phase = Phase.IDLE
    call: Call | None = None
    seq: int = 0
    """Calls started so far on this line; makes call ids unique (seeded from the store at start)."""
    ring_count: int = 0
    ringing_now: bool = False
    last_ring_at: float = -1e9
    phone_off_hook: bool = False
    bypass: bool = True
    """The relay starts released: the box is out of the line until the runtime clears 'startup'."""
    faults: frozenset[str] = frozenset({"startup"})
    early_cid: tuple[float, str | None, str | None, str | None] | None = None
    """Caller ID heard before the first ring: (when, number, name, absence)."""
