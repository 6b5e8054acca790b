"""Events the call logic reacts to: hardware edges, decoded signals, detections and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """Abuse categories, each with its own escalation ladder and legal-basis code."""

    PROFANITY = "profanity"
    THREAT = "threat"
    SEXUAL = "sexual"


class Tier(StrEnum):
    """Confidence tiers of a detection: ``alert`` tells staff only, ``warn`` warns the caller."""

    ALERT = "alert"
    WARN = "warn"


class Leg(StrEnum):
    """The two audio legs: the wall line (caller) and the desk phone (staff)."""

    LINE = "line"
    PHONE = "phone"


@dataclass(frozen=True)
class Tick:
    """The clock moved on; lets timers fire with no other event."""


@dataclass(frozen=True)
class RingStarted:
    """A ring burst began on the line (qualified by the backend's ring detector)."""


@dataclass(frozen=True)
class RingStopped:
    """A ring burst ended on the line."""


@dataclass(frozen=True)
class CallerIdReceived:
    """A caller ID message was decoded on the line leg."""

    number: str | None
    name: str | None = None
    absence: str | None = None
    """'O' (out of area) or 'P' (private) when the number is withheld."""
    datetime: str | None = None
    """MMDDHHMM as sent by the exchange."""


@dataclass(frozen=True)
class FarEndHangup:
    """The far end hung up: loop-current drop, polarity reversal or busy/reorder tone."""

    cause: str = "loop_drop"


@dataclass(frozen=True)
class CallWaitingTone:
    """A call-waiting alert was heard on the line during a call."""


@dataclass(frozen=True)
class PhoneOffHook:
    """The desk phone was lifted."""


@dataclass(frozen=True)
class PhoneOnHook:
    """The desk phone was hung up."""


@dataclass(frozen=True)
class DtmfDigit:
    """One DTMF digit decoded on a leg."""

    digit: str
    leg: Leg = Leg.PHONE


@dataclass(frozen=True)
class ButtonPressed:
    """The staff button was pressed: ``long`` for a long press."""

    long: bool = False


@dataclass(frozen=True)
class PromptFinished:
    """A prompt the core asked for finished playing (or was stopped)."""

    prompt: str


SCORE_DECIMALS = 5
"""Decimals a detection's score is reported with: the shipped thresholds sit at 0.99-0.9999, five decimals."""


@dataclass(frozen=True)
class AbuseDetected:
    """The detector heard abuse on the caller leg."""

    category: Category
    tier: Tier
    keyword: str = ""
    score: float = 0.0
    source: str = "model"
    """Where the detection came from: ``model``, ``shouting`` or ``scenario`` (injected)."""


@dataclass(frozen=True)
class FaultRaised:
    """A fault that should put the phone back on the wall line (audio lost, software fault)."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class FaultCleared:
    """A fault went away; the box may step back into the line when idle."""

    kind: str


Event = (
    Tick
    | RingStarted
    | RingStopped
    | CallerIdReceived
    | FarEndHangup
    | CallWaitingTone
    | PhoneOffHook
    | PhoneOnHook
    | DtmfDigit
    | ButtonPressed
    | PromptFinished
    | AbuseDetected
    | FaultRaised
    | FaultCleared
)
"""Every event the call machine accepts."""


def event_name(event: Event) -> str:
    """The snake_case name of an event's type, as used in logs and scenarios."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
