"""Actions the call logic asks for; executors carry them out on the ports, the store and telemetry."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.core.events import Category, Leg


class Basis:
    """Legal-basis codes carried by every policy action (DESIGN.md §3 item 7)."""

    DURATION = "duration.limit"
    STAFF = "staff.request"
    BLOCKED = "blocked.number"

    @staticmethod
    def abuse(category: Category) -> str:
        """The code for an abuse category, e.g. ``abuse.profanity``."""
        return f"abuse.{category.value}"

    @staticmethod
    def calendar(name: str) -> str:
        """The code for a calendar message, e.g. ``calendar.lunch``."""
        return f"calendar.{name}"


@dataclass(frozen=True)
class SeizeLine:
    """Take the line off hook through the DAA (answer, or start an outgoing call)."""


@dataclass(frozen=True)
class ReleaseLine:
    """Put the line back on hook: the call on the wall line ends."""


@dataclass(frozen=True)
class PlayPrompt:
    """Play a prompt to a leg; a ``PromptFinished`` comes back when it ends."""

    prompt: str
    leg: Leg = Leg.LINE
    basis: str | None = None


@dataclass(frozen=True)
class StopPrompt:
    """Stop whatever prompt is playing, without a ``PromptFinished``."""


@dataclass(frozen=True)
class PlayTone:
    """Play a short tone on one leg only (e.g. the silent staff alert on the phone leg)."""

    tone: str
    leg: Leg


@dataclass(frozen=True)
class StartTone:
    """Start a continuous call-progress tone on a leg (ringback to the caller, reorder to staff)."""

    tone: str
    leg: Leg


@dataclass(frozen=True)
class StopTones:
    """Stop the continuous tones on every leg."""


@dataclass(frozen=True)
class RingPhone:
    """Ring the desk phone with the ring cadence, sending the caller ID between the first two rings."""

    number: str | None
    name: str | None = None


@dataclass(frozen=True)
class StopRingingPhone:
    """Stop ringing the desk phone."""


@dataclass(frozen=True)
class Bridge:
    """Connect (``on``) or separate the line and phone audio legs."""

    on: bool


@dataclass(frozen=True)
class StartRecording:
    """Start recording both legs of a call."""

    call_id: str


@dataclass(frozen=True)
class StopRecording:
    """Stop recording a call."""

    call_id: str


@dataclass(frozen=True)
class SetBypass:
    """Drop the relay so the phone sits straight on the wall line (``on``), or step back in."""

    on: bool
    reason: str = ""


@dataclass(frozen=True)
class SetLed:
    """Show a pattern on the staff LED: ``off``, ``on``, ``blink`` (alert), ``fast`` (fault)."""

    pattern: str


@dataclass(frozen=True)
class OpenCall:
    """A call record begins."""

    call_id: str
    direction: str
    number: str | None = None
    name: str | None = None
    absence: str | None = None


@dataclass(frozen=True)
class Note:
    """Something worth logging in the call's event log (policy step, decoded signal, incident)."""

    call_id: str | None
    kind: str
    basis: str | None = None
    data: dict[str, str | int | float | bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordStrike:
    """The caller was cut: count a strike against the number."""

    call_id: str
    number: str
    basis: str


@dataclass(frozen=True)
class CloseCall:
    """A call record ends with its outcome (``completed``, ``cut``, ``blocked``, ``calendar``, …)."""

    call_id: str
    outcome: str
    basis: str | None = None
    ended_by: str = ""
    dialed: str | None = None
    """For an outgoing call, the number staff dialled."""


Action = (
    SeizeLine
    | ReleaseLine
    | PlayPrompt
    | StopPrompt
    | PlayTone
    | StartTone
    | StopTones
    | RingPhone
    | StopRingingPhone
    | Bridge
    | StartRecording
    | StopRecording
    | SetBypass
    | SetLed
    | OpenCall
    | Note
    | RecordStrike
    | CloseCall
)
"""Every action the call machine emits."""
