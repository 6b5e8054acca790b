"""The pi backend's pure timing logic: ring qualification, debounce, loop drop, presses, cadence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.backends.pi.signals import Debouncer, LoopMonitor, PressClassifier, RingCadence, RingQualifier


def _qualifier() -> RingQualifier:
    return RingQualifier(min_hz=15, max_hz=68, min_burst_s=0.15, gap_s=0.2, debounce_s=0.003)


def _run(q: RingQualifier, pulses: list[float], until: float, step: float = 0.005) -> list[tuple[float, str]]:
    """Feed pulses in time order, polling every ``step``; returns (time, event)."""
    out: list[tuple[float, str]] = []
    pending = sorted(pulses)
    t = 0.0
    while t <= until:
        while pending and pending[0] <= t:
            q.pulse(pending.pop(0))
        event = q.poll(t)
        if event:
            out.append((round(t, 3), event))
        t += step
    return out


def _burst(start: float, seconds: float, hz: float) -> list[float]:
    return [start + k / hz for k in range(int(seconds * hz))]


def test_korean_cadence_gives_one_start_and_stop_per_burst() -> None:
    pulses = _burst(0.0, 1.0, 25) + _burst(3.0, 1.0, 25)
    events = _run(_qualifier(), pulses, until=5.0)
    assert [e for _, e in events] == ["start", "stop", "start", "stop"]
    starts = [t for t, e in events if e == "start"]
    stops = [t for t, e in events if e == "stop"]
    # Qualified after min_burst_s, not on the first click; stopped gap_s after the last pulse.
    assert 0.15 <= starts[0] <= 0.2
    assert 1.15 <= stops[0] <= 1.2
    assert 3.15 <= starts[1] <= 3.2


def test_lone_clicks_and_dial_pulses_are_not_rings() -> None:
    q = _qualifier()
    clicks = [0.0, 0.5, 1.3, 2.0]
    dial_pulses = _burst(3.0, 1.0, 10)  # 10 pulses/s: slower than any ring
    assert _run(q, clicks + dial_pulses, until=5.0) == []


def test_chatter_faster_than_any_ring_is_rejected() -> None:
    q = _qualifier()
    chatter = _burst(0.0, 0.5, 400)  # 2.5 ms spacing: below the debounce or too fast
    assert _run(q, chatter, until=1.0) == []


@settings(max_examples=40, deadline=None)
@given(hz=st.floats(min_value=16, max_value=66), seconds=st.floats(min_value=0.4, max_value=2.0))
def test_any_ring_frequency_in_range_qualifies_once(hz: float, seconds: float) -> None:
    events = _run(_qualifier(), _burst(0.0, seconds, hz), until=seconds + 0.5)
    assert [e for _, e in events] == ["start", "stop"]


def test_debouncer_ignores_bounces_shorter_than_settle() -> None:
    d = Debouncer(0.03)
    d.feed(True, 0.000)
    d.feed(False, 0.005)
    d.feed(True, 0.010)
    assert d.poll(0.035) is None  # only 25 ms stable so far
    assert d.poll(0.041) is True
    assert d.level is True
    d.feed(False, 0.1)
    assert d.poll(0.12) is None
    assert d.poll(0.131) is False


def test_loop_monitor_reports_drop_only_after_settle_and_drop_time() -> None:
    m = LoopMonitor(drop_s=0.3, settle_s=0.5, polarity_hangup=False)
    m.arm(10.0)
    assert m.poll(10.4) is None  # no loop current yet, but still settling
    assert m.poll(10.9) is None  # ...and none seen yet: no sensor is not a hang-up
    m.feed(True, 10.2)
    assert m.poll(11.0) is None
    m.feed(False, 11.0)
    assert m.poll(11.29) is None
    assert m.poll(11.31) == "loop_drop"
    assert m.poll(12.0) is None  # reported once


def test_loop_monitor_short_dropout_is_polarity_reversal_only_if_configured() -> None:
    for configured, expected in ((True, "polarity_reversal"), (False, None)):
        m = LoopMonitor(drop_s=0.3, settle_s=0.0, polarity_hangup=configured)
        m.arm(0.0)
        m.feed(True, 0.01)
        m.feed(False, 1.0)
        assert m.feed(True, 1.02) == expected
        assert m.poll(2.0) is None


def test_loop_monitor_disarmed_never_reports() -> None:
    m = LoopMonitor(drop_s=0.1, settle_s=0.0, polarity_hangup=True)
    m.arm(0.0)
    m.disarm()
    m.feed(False, 1.0)
    assert m.poll(5.0) is None


def test_press_classifier_short_on_release_long_while_held() -> None:
    p = PressClassifier(long_s=1.5, debounce_s=0.03)
    p.feed(True, 0.0)
    assert p.poll(0.05) is None
    p.feed(False, 0.4)
    assert p.poll(0.45) is False
    p.feed(True, 1.0)
    assert p.poll(1.05) is None
    assert p.poll(2.49) is None
    assert p.poll(2.54) is True  # fires while still held
    p.feed(False, 4.0)
    assert p.poll(4.05) is None  # the release after a long press is no short press


def test_ring_cadence_one_on_two_off() -> None:
    c = RingCadence(1.0, 2.0, start=100.0)
    assert c.at(100.0).ringing and c.at(100.99).ringing
    assert not c.at(101.01).ringing and not c.at(102.99).ringing
    assert c.at(103.01).ringing and c.at(103.01).cycle == 1


def test_loop_monitor_without_any_current_never_reports() -> None:
    m = LoopMonitor(drop_s=0.1, settle_s=0.0, polarity_hangup=True)
    m.arm(0.0)
    m.feed(False, 0.01)
    assert m.poll(10.0) is None
    assert not m.seen_current and not m.pending
