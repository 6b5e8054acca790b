"""The call machine, event by event: call flow, policy, ladder, staff controls, faults (no threads, no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from edge.config import Config, DateRange, parse_config
from edge.core import actions as a
from edge.core import events as e
from edge.core.calendar import calendar_message
from edge.core.machine import CallMachine
from edge.core.state import LineState, Phase
from tests.conftest import MONDAY_10AM, at


class Driver:
    """Feeds events to a machine at chosen times and keeps every action."""

    def __init__(self, config: Config, start: dt.datetime = MONDAY_10AM) -> None:
        self.machine = CallMachine(config)
        self.state = LineState()
        self.start = start
        self.t = 0.0
        self.actions: list[a.Action] = []
        self.send(e.FaultCleared("startup"))

    def send(self, event: e.Event, after: float = 0.0) -> list[a.Action]:
        self.t += after
        self.state, out = self.machine.step(self.state, event, at(self.t, self.start))
        self.actions += out
        return out

    def incoming(self, number: str | None = "01012345678") -> None:
        self.send(e.RingStarted(), 1.0)
        self.send(e.RingStopped(), 1.0)
        if number:
            self.send(e.CallerIdReceived(number), 0.5)
        self.send(e.RingStarted(), 1.5)

    def connect(self, number: str | None = "01012345678") -> None:
        self.incoming(number)
        self.send(e.PromptFinished("recording_notice"), 6.5)
        self.send(e.PhoneOffHook(), 3.0)
        assert self.state.phase == Phase.CONNECTED

    def kinds(self, of: Iterable[a.Action] | None = None) -> list[str]:
        names = []
        for x in self.actions if of is None else of:
            if isinstance(x, a.Note):
                names.append(f"note:{x.kind}")
            elif isinstance(x, a.PlayPrompt):
                names.append(f"play:{x.prompt}")
            else:
                names.append(type(x).__name__)
        return names

    def bases(self) -> list[str | None]:
        return [x.basis for x in self.actions if isinstance(x, a.Note) and x.basis]


def with_(config: Config, **sections: dict[str, object]) -> Config:
    data = config.model_dump(mode="json", exclude_none=True)
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config(data)


def test_starts_in_bypass_and_steps_in_when_ready(config: Config) -> None:
    machine = CallMachine(config)
    state = LineState()
    assert state.bypass
    state, out = machine.step(state, e.RingStarted(), at(0))
    assert out == [] and state.phase == Phase.IDLE, "a bypassed box leaves the ringing to the phone"
    state, out = machine.step(state, e.FaultCleared("startup"), at(2))
    assert a.SetBypass(False, "ready") not in out, "no step-in while the line may still be ringing"
    state, out = machine.step(state, e.Tick(), at(20))
    assert a.SetBypass(False, "ready") in out and not state.bypass


def test_normal_incoming_call_flow(config: Config) -> None:
    d = Driver(config)
    d.connect()
    d.send(e.FarEndHangup(), 30)
    assert d.kinds()[3:] == [
        "note:ring",
        "note:callerid",
        "note:ring",
        "SeizeLine",
        "OpenCall",
        "StartRecording",
        "play:recording_notice",
        "RingPhone",
        "StartTone",
        "StopRingingPhone",
        "StopTones",
        "Bridge",
        "note:connected",
        "Bridge",
        "ReleaseLine",
        "StopRecording",
        "CloseCall",
        "SetLed",
        "StartTone",
    ]
    ring = next(x for x in d.actions if isinstance(x, a.RingPhone))
    assert ring.number == "01012345678", "the caller ID is regenerated towards the desk phone"
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert (close.outcome, close.ended_by) == ("completed", "caller")
    assert d.state.phase == Phase.RELEASING, "staff still hold the handset: reorder tone until they hang up"
    d.send(e.PhoneOnHook(), 1)
    assert d.state.phase == Phase.IDLE


def test_caller_hangs_up_during_the_announcement(config: Config) -> None:
    d = Driver(config)
    d.incoming()
    d.send(e.FarEndHangup(), 2.0)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert close.outcome == "abandoned" and close.ended_by == "caller"
    assert a.StopPrompt() in d.actions and not any(isinstance(x, a.RingPhone) for x in d.actions)
    assert d.state.phase == Phase.IDLE


def test_missed_call_is_recorded_when_the_caller_gives_up_before_the_answer(config: Config) -> None:
    d = Driver(with_(config, call={"answer_on_ring": 4}))
    d.send(e.RingStarted(), 1)
    d.send(e.RingStopped(), 1)
    d.send(e.Tick(), 7)
    assert not any(isinstance(x, a.CloseCall) for x in d.actions)
    d.send(e.Tick(), 2)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert close.outcome == "missed"
    assert not any(isinstance(x, a.SeizeLine) for x in d.actions)


def test_unanswered_desk_phone_releases_after_the_timeout(config: Config) -> None:
    d = Driver(config)
    d.incoming()
    d.send(e.PromptFinished("recording_notice"), 6)
    d.send(e.Tick(), 59)
    assert d.state.phase == Phase.RINGING_PHONE
    d.send(e.Tick(), 2)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert close.outcome == "unanswered"
    assert a.StopRingingPhone() in d.actions and d.state.phase == Phase.IDLE


def test_blocked_number_gets_the_block_notice_and_is_released(config: Config) -> None:
    d = Driver(config)
    d.incoming("01099998888")
    assert a.PlayPrompt("blocked", e.Leg.LINE, "blocked.number") in d.actions
    assert not any(isinstance(x, a.StartRecording) for x in d.actions)
    d.send(e.PromptFinished("blocked"), 3.4)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert (close.outcome, close.basis) == ("blocked", "blocked.number")
    assert not any(isinstance(x, a.RingPhone) for x in d.actions)


def test_caller_id_before_the_first_ring_is_kept(config: Config) -> None:
    d = Driver(config)
    d.send(e.CallerIdReceived("01099998888"), 1)
    d.send(e.RingStarted(), 0.5)
    d.send(e.RingStopped(), 1)
    d.send(e.RingStarted(), 2)
    assert a.PlayPrompt("blocked", e.Leg.LINE, "blocked.number") in d.actions


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (dt.datetime(2026, 11, 23, 10, 0), None),
        (dt.datetime(2026, 11, 23, 12, 30), "lunch"),
        (dt.datetime(2026, 11, 23, 8, 59), "after_hours"),
        (dt.datetime(2026, 11, 23, 18, 0), "after_hours"),
        (dt.datetime(2026, 11, 22, 10, 0), "after_hours"),
        (dt.datetime(2026, 12, 25, 10, 0), "holiday"),
    ],
)
def test_calendar_picks_the_message_by_local_time(
    config: Config, when: dt.datetime, expected: str | None
) -> None:
    message = calendar_message(config.calendar, when)
    assert (message.name if message else None) == expected


def test_office_moved_with_please_hold_passes_the_call_through(config: Config) -> None:
    moved = DateRange(first=dt.date(2026, 11, 1), last=dt.date(2026, 11, 30), hold=True)
    cfg = config.model_copy(update={"calendar": config.calendar.model_copy(update={"moved": moved})})
    d = Driver(cfg)
    d.incoming()
    assert a.PlayPrompt("office_moved", e.Leg.LINE, "calendar.moved") in d.actions
    d.send(e.PromptFinished("office_moved"), 7)
    assert a.PlayPrompt("recording_notice", e.Leg.LINE, None) in d.actions
    d.send(e.PromptFinished("recording_notice"), 6.5)
    assert d.state.phase == Phase.RINGING_PHONE


def test_after_hours_call_is_released_with_its_basis(config: Config) -> None:
    d = Driver(config, start=dt.datetime(2026, 11, 23, 19, 0))
    d.incoming()
    d.send(e.PromptFinished("after_hours"), 7.7)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert (close.outcome, close.basis) == ("calendar", "calendar.after_hours")


def test_call_waiting_never_answers_or_prompts_during_a_conversation(config: Config) -> None:
    d = Driver(config)
    d.connect()
    before = len(d.actions)
    for event in (e.RingStarted(), e.CallerIdReceived("0299998888"), e.RingStopped(), e.CallWaitingTone()):
        d.send(event, 0.5)
    new = d.actions[before:]
    assert all(isinstance(x, a.Note) and x.kind == "call_waiting" for x in new)
    assert len(new) == 3 and d.state.phase == Phase.CONNECTED


def test_ladder_warns_once_then_cuts_per_category(config: Config) -> None:
    d = Driver(config)
    d.connect()
    d.send(e.AbuseDetected(e.Category.THREAT, e.Tier.WARN, "죽여버린다", 0.97), 5)
    assert a.PlayPrompt("warning", e.Leg.LINE, "abuse.threat") in d.actions
    d.send(e.PromptFinished("warning"), 9.2)
    d.send(e.AbuseDetected(e.Category.SEXUAL, e.Tier.WARN), 5)
    assert a.PlayPrompt("warning", e.Leg.LINE, "abuse.sexual") in d.actions, "the ladder is per category"
    d.send(e.PromptFinished("warning"), 9.2)
    d.send(e.AbuseDetected(e.Category.THREAT, e.Tier.WARN), 5)
    assert a.PlayPrompt("cut", e.Leg.LINE, "abuse.threat") in d.actions
    assert (
        a.RecordStrike(d.state.call.call_id if d.state.call else "", "01012345678", "abuse.threat")
        in d.actions
    )
    d.send(e.PromptFinished("cut"), 4.2)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert (close.outcome, close.basis, close.ended_by) == ("cut", "abuse.threat", "box")


def test_configured_warning_count_and_refractory_time(config: Config) -> None:
    d = Driver(with_(config, escalation={"warnings_before_cut": 2, "refractory_s": 20.0}))
    d.connect()
    d.send(e.AbuseDetected(e.Category.PROFANITY, e.Tier.WARN), 1)
    d.send(e.PromptFinished("warning"), 9)
    d.send(e.AbuseDetected(e.Category.PROFANITY, e.Tier.WARN), 1)
    assert d.kinds()[-1] == "note:detection_ignored", "inside the refractory time nothing is acted on"
    d.send(e.AbuseDetected(e.Category.PROFANITY, e.Tier.WARN), 15)
    assert d.kinds()[-3:] == ["play:warning", "note:warning", "SetLed"]
    d.send(e.PromptFinished("warning"), 9)
    d.send(e.AbuseDetected(e.Category.PROFANITY, e.Tier.WARN), 25)
    assert "play:cut" in d.kinds()


def test_possible_detection_alerts_staff_only(config: Config) -> None:
    d = Driver(config)
    d.connect()
    out = d.send(e.AbuseDetected(e.Category.PROFANITY, e.Tier.ALERT, "씨발", 0.6), 2)
    assert a.PlayTone("alert", e.Leg.PHONE) in out and a.SetLed("blink") in out
    assert not any(isinstance(x, a.PlayPrompt) for x in out), "the caller hears nothing"
    out = d.send(e.AbuseDetected(e.Category.THREAT, e.Tier.WARN, source="shouting"), 5)
    assert not any(isinstance(x, a.PlayPrompt) for x in out), "shouting alone never warns"


def test_short_press_warns_then_confirms_a_cut(config: Config) -> None:
    d = Driver(config)
    d.connect()
    d.send(e.ButtonPressed(long=False), 2)
    assert a.PlayPrompt("warning", e.Leg.LINE, "staff.request") in d.actions
    d.send(e.PromptFinished("warning"), 9)
    d.send(e.ButtonPressed(long=False), 2)
    assert a.PlayPrompt("cut", e.Leg.LINE, "staff.request") in d.actions


def test_long_press_warns_then_cuts(config: Config) -> None:
    d = Driver(config)
    d.connect()
    d.send(e.ButtonPressed(long=True), 2)
    d.send(e.PromptFinished("warning"), 9)
    d.send(e.PromptFinished("cut"), 4)
    assert [k for k in d.kinds() if k.startswith("play:")][-2:] == ["play:warning", "play:cut"]
    assert d.bases()[-2:] == ["staff.request", "staff.request"]
    assert d.state.phase == Phase.RELEASING


def test_dtmf_codes_on_the_phone_leg_only_and_within_the_timeout(config: Config) -> None:
    d = Driver(config)
    d.connect()
    for digit in "*9#":
        d.send(e.DtmfDigit(digit, e.Leg.LINE), 0.2)
    assert "play:warning" not in d.kinds(), "the caller cannot trigger staff codes"
    d.send(e.DtmfDigit("*"), 0.2)
    d.send(e.DtmfDigit("1"), 4.0)
    d.send(e.DtmfDigit("#"), 0.2)
    assert "play:warning" not in d.kinds(), "digits further apart than the timeout do not make a code"
    for digit in "5*1#":
        d.send(e.DtmfDigit(digit), 0.2)
    assert "play:warning" in d.kinds(), "a code is found after stray digits"
    d.send(e.PromptFinished("warning"), 9)
    for digit in "*7#":
        d.send(e.DtmfDigit(digit), 0.2)
    assert "note:caller_marked" in d.kinds()


def test_duration_notice_waits_for_a_playing_prompt_and_cut_follows(config: Config) -> None:
    d = Driver(config)
    d.connect()
    d.send(e.ButtonPressed(), 895)
    d.send(e.Tick(), 6)
    assert "play:duration_notice" not in d.kinds(), "never talk over our own warning"
    d.send(e.PromptFinished("warning"), 3)
    assert "play:duration_notice" in d.kinds()
    d.send(e.PromptFinished("duration_notice"), 7.5)
    d.send(e.Tick(), 300)
    assert "play:duration_cut" in d.kinds()
    cut = [x for x in d.actions if isinstance(x, a.Note) and x.kind == "cut"][-1]
    assert cut.basis == "duration.limit"
    assert not any(isinstance(x, a.RecordStrike) for x in d.actions), "a duration cut is not a strike"


def test_outgoing_call_records_the_dialled_number(config: Config) -> None:
    d = Driver(config)
    d.send(e.PhoneOffHook(), 1)
    assert d.state.phase == Phase.CONNECTED
    for digit in "0212345678":
        d.send(e.DtmfDigit(digit), 0.2)
    d.send(e.ButtonPressed(long=True), 10)
    assert "play:warning" in d.kinds(), "staff controls work on outgoing calls too"
    d.send(e.PhoneOnHook(), 2)
    close = next(x for x in d.actions if isinstance(x, a.CloseCall))
    assert close.dialed == "0212345678" and close.ended_by == "staff"


def test_fault_mid_call_hands_the_conversation_to_the_wire(config: Config) -> None:
    d = Driver(config)
    d.connect()
    out = d.send(e.FaultRaised("audio", "device lost"), 5)
    kinds = d.kinds(out)
    assert kinds.index("SetBypass") < kinds.index("ReleaseLine"), "relay first, so the call stays up"
    close = next(x for x in out if isinstance(x, a.CloseCall))
    assert close.outcome == "bypass" and d.state.bypass
    assert d.send(e.RingStarted(), 5) == [], "in bypass the phone rings by itself"
    d.send(e.RingStopped(), 1)
    d.send(e.PhoneOnHook(), 1)
    d.send(e.FaultCleared("audio"), 1)
    d.send(e.Tick(), 10)
    assert not d.state.bypass


def test_fault_while_ringing_waits_for_the_ring_burst_to_end(config: Config) -> None:
    d = Driver(config)
    d.send(e.RingStarted(), 1)
    out = d.send(e.FaultRaised("audio"), 0.3)
    assert not any(isinstance(x, a.SetBypass) for x in out), "never switch the relay inside a ring burst"
    out = d.send(e.RingStopped(), 0.7)
    assert a.SetBypass(True, "audio") in out and d.state.bypass
    close = next(x for x in out if isinstance(x, a.CloseCall))
    assert close.outcome == "bypass", "the handed-over call is still on record"
