"""Pure timing logic behind the board's inputs and the ring cadence: fed levels and times, no GPIO."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


class Debouncer:
    """A level that counts as changed only after it has been stable for ``settle_s``."""

    def __init__(self, settle_s: float, level: bool = False) -> None:
        self._settle_s = settle_s
        self._stable = level
        self._raw = level
        self._since = 0.0

    @property
    def level(self) -> bool:
        """The debounced level."""
        return self._stable

    @property
    def changed_at(self) -> float:
        """When the raw level last changed (the start of the current stable level, once it is stable)."""
        return self._since

    def feed(self, level: bool, t: float) -> None:
        """A raw edge (or a sample) at time ``t``."""
        if level != self._raw:
            self._raw = level
            self._since = t

    def poll(self, t: float) -> bool | None:
        """The new stable level if it changed by ``t``, else None."""
        if self._raw != self._stable and t - self._since >= self._settle_s:
            self._stable = self._raw
            return self._stable
        return None


class RingQualifier:
    """Turns ring-detect pulses into qualified ring bursts.

    A burst starts once pulses have kept coming at a ring rate (``min_hz``..``max_hz``) for ``min_burst_s``;
    it stops ``gap_s`` after the last pulse. Lone clicks, dial pulses (10 Hz) and chatter are rejected.
    """

    def __init__(
        self, min_hz: float, max_hz: float, min_burst_s: float, gap_s: float, debounce_s: float
    ) -> None:
        self._min_period = 1.0 / max_hz
        self._max_period = 1.0 / min_hz
        self._min_burst_s = min_burst_s
        self._gap_s = gap_s
        self._debounce_s = debounce_s
        self._pulses: deque[float] = deque()
        self._candidate_since: float | None = None
        self._ringing = False
        self._last_pulse = -1e9
        self.rejected = 0
        """Pulses dropped because their spacing was no ring rate."""

    @property
    def ringing(self) -> bool:
        """Whether a qualified burst is in progress."""
        return self._ringing

    def pulse(self, t: float) -> None:
        """One active edge on the ring-detect pin at time ``t``."""
        gap = t - self._last_pulse
        if gap < self._debounce_s:
            return
        self._last_pulse = t
        if self._candidate_since is None or gap > self._max_period * 1.5:
            self._candidate_since = t
            self._pulses.clear()
        elif gap < self._min_period * 0.7:
            # Faster than any ring: contact chatter or noise; the run starts again here.
            self.rejected += 1
            self._candidate_since = t
            self._pulses.clear()
        self._pulses.append(t)

    def poll(self, t: float) -> str | None:
        """``"start"`` or ``"stop"`` when a burst began or ended by time ``t``."""
        if self._ringing:
            if t - self._last_pulse >= self._gap_s:
                self._ringing = False
                self._candidate_since = None
                self._pulses.clear()
                return "stop"
            return None
        if self._candidate_since is None:
            return None
        if t - self._last_pulse > self._max_period * 1.5:
            self._candidate_since = None
            self._pulses.clear()
            return None
        if self._last_pulse - self._candidate_since >= self._min_burst_s and len(self._pulses) >= 3:
            span = self._pulses[-1] - self._pulses[0]
            rate = (len(self._pulses) - 1) / span if span > 0 else 0.0
            if 1.0 / self._max_period <= rate <= 1.0 / self._min_period:
                self._ringing = True
                return "start"
            self.rejected += 1
            self._candidate_since = None
            self._pulses.clear()
        return None


class LoopMonitor:
    """Far-end hang-up from the loop-current sense while the line is off hook.

    Loss of loop current for ``drop_s`` is a hang-up (``"loop_drop"``); a shorter dropout is a polarity
    reversal, a hang-up only where the exchange signals it that way (``polarity_hangup``). A loss counts only
    after current was seen during this seizure: a missing or broken sensor must not end every call.
    """

    def __init__(self, drop_s: float, settle_s: float, polarity_hangup: bool) -> None:
        self._drop_s = drop_s
        self._settle_s = settle_s
        self._polarity_hangup = polarity_hangup
        self._armed_at: float | None = None
        self._current = False
        self._lost_at: float | None = None
        self._fired = False
        self.seen_current = False
        """Whether loop current flowed at some point since the line was seized."""

    def arm(self, t: float) -> None:
        """The line was seized at ``t``: start watching after the settle time."""
        self._armed_at = t
        self._lost_at = None
        self._fired = False
        self.seen_current = False

    def disarm(self) -> None:
        """The line was released: nothing to watch."""
        self._armed_at = None
        self._lost_at = None

    def feed(self, current: bool, t: float) -> str | None:
        """Loop current present (True) or absent at ``t``; a cause when a short dropout ended."""
        previous, self._current = self._current, current
        if current and self._armed_at is not None:
            self.seen_current = True
        if not self._watching(t):
            self._lost_at = None if current else t
            return None
        if previous and not current:
            self._lost_at = t
        elif current and not previous and self._lost_at is not None:
            lost_for = t - self._lost_at
            self._lost_at = None
            if self._polarity_hangup and 0.002 <= lost_for < self._drop_s and not self._fired:
                self._fired = True
                return "polarity_reversal"
        return None

    def poll(self, t: float) -> str | None:
        """``"loop_drop"`` once the current has been gone for ``drop_s``."""
        if not self._watching(t) or self._fired or not self.seen_current:
            return None
        if self._current:
            return None
        lost_at = self._lost_at if self._lost_at is not None else self._armed_at
        assert lost_at is not None
        if t - max(lost_at, self._settle_end()) >= self._drop_s:
            self._fired = True
            return "loop_drop"
        return None

    @property
    def pending(self) -> bool:
        """Whether a loss of loop current is being timed (the caller must keep polling)."""
        return self._armed_at is not None and not self._fired and self.seen_current and not self._current

    def _settle_end(self) -> float:
        return (self._armed_at or 0.0) + self._settle_s

    def _watching(self, t: float) -> bool:
        return self._armed_at is not None and t >= self._settle_end()


class PressClassifier:
    """Short and long presses of the staff button; a long press fires while still held."""

    def __init__(self, long_s: float, debounce_s: float) -> None:
        self._long_s = long_s
        self._debounce = Debouncer(debounce_s)
        self._pressed_at: float | None = None
        self._long_sent = False

    def feed(self, pressed: bool, t: float) -> None:
        """A raw button level at ``t``."""
        self._debounce.feed(pressed, t)

    def poll(self, t: float) -> bool | None:
        """``False`` for a short press (on release), ``True`` for a long press (when held long enough)."""
        change = self._debounce.poll(t)
        if change is True:
            self._pressed_at = self._debounce.changed_at
            self._long_sent = False
        elif change is False and self._pressed_at is not None:
            pressed_at, self._pressed_at = self._pressed_at, None
            if not self._long_sent and self._debounce.changed_at - pressed_at < self._long_s:
                return False
        if self._pressed_at is not None and not self._long_sent and t - self._pressed_at >= self._long_s:
            self._long_sent = True
            return True
        return None


@dataclass(frozen=True)
class CadenceStep:
    """Where a ring cadence stands: ringing or not, and whether the first silence has just begun."""

    ringing: bool
    cycle: int


class RingCadence:
    """The desk phone's ring cadence: ``on_s`` ringing, ``off_s`` silent, repeated from ``start``."""

    def __init__(self, on_s: float, off_s: float, start: float) -> None:
        self._on_s = on_s
        self._period = on_s + off_s
        self._start = start

    def at(self, t: float) -> CadenceStep:
        """The cadence step at time ``t``."""
        elapsed = max(0.0, t - self._start)
        cycle = int(elapsed // self._period)
        return CadenceStep(ringing=elapsed - cycle * self._period < self._on_s, cycle=cycle)
