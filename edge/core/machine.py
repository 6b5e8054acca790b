"""The call state machine: ``(state, event, now) -> (state, actions)``, pure and per line."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from edge.config import Config
from edge.core import actions as a
from edge.core import events as e
from edge.core.actions import Action, Basis
from edge.core.calendar import calendar_message
from edge.core.state import After, Call, Instant, LineState, Phase

PRE_CONNECTION_PROMPTS = frozenset({"recording_notice", "blocked", "lunch", "after_hours", "office_moved"})
"""Prompts that belong before staff and caller are connected; never played into a conversation."""
IN_CALL_PROMPTS = frozenset({"warning", "cut", "duration_notice", "duration_cut"})
"""The only prompts the machine plays while the legs are bridged."""

DIAL_WINDOW_S = 20.0
"""Digits keyed this soon after lifting the handset for an outgoing call are the dialled number."""

Result = tuple[LineState, list[Action]]


class CallMachine:
    """The call logic for one line, bound to a configuration; ``step`` is a pure function."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def step(self, state: LineState, event: e.Event, now: Instant) -> Result:
        """Apply one event at one instant; returns the new state and the actions to carry out."""
        if isinstance(event, e.FaultRaised):
            return self._fault(state, event, now)
        if isinstance(event, e.FaultCleared):
            return self._fault_cleared(state, event, now)
        state = self._track_line(state, event, now)
        if isinstance(event, e.PhoneOffHook | e.PhoneOnHook):
            state = replace(state, phone_off_hook=isinstance(event, e.PhoneOffHook))
        if state.bypass:
            return self._bypassed(state, event, now)
        handler = {
            Phase.IDLE: self._idle,
            Phase.RINGING: self._ringing,
            Phase.ANNOUNCING: self._announcing,
            Phase.RINGING_PHONE: self._ringing_phone,
            Phase.CONNECTED: self._connected,
            Phase.RELEASING: self._releasing,
        }[state.phase]
        return handler(state, event, now)

    # -- ring tracking and faults -------------------------------------------------------------------

    @staticmethod
    def _track_line(state: LineState, event: e.Event, now: Instant) -> LineState:
        if isinstance(event, e.RingStarted):
            return replace(state, ringing_now=True, last_ring_at=now.mono)
        if isinstance(event, e.RingStopped):
            return replace(state, ringing_now=False, last_ring_at=now.mono)
        return state

    def _fault(self, state: LineState, event: e.FaultRaised, now: Instant) -> Result:
        state = replace(state, faults=state.faults | {event.kind})
        out: list[Action] = [
            a.Note(_call_id(state), "fault", None, {"fault": event.kind, "detail": event.detail})
        ]
        if state.bypass:
            return state, out
        if state.phase == Phase.RINGING and state.ringing_now:
            return state, out  # the relay moves only between ring bursts; RingStopped finishes the job
        return self._enter_bypass(state, now, out, event.kind)

    def _enter_bypass(self, state: LineState, now: Instant, out: list[Action], reason: str) -> Result:
        # The relay goes first: with the phone off hook the conversation carries on over the wire.
        out.append(a.SetBypass(True, reason))
        call = state.call
        if call is not None and not call.opened:
            # A call still ringing in is handed to the desk phone, which now rings straight off the wire.
            out += [a.OpenCall(call.call_id, "in", call.number, call.name, call.absence)]
            state = replace(state, call=replace(call, opened=True))
        if state.call is not None:
            state, more = self._release(state, "bypass", None, "fault", relay_first=True)
            out += more
        out.append(a.SetLed("fast"))
        return replace(state, bypass=True, phase=Phase.IDLE, call=None, ring_count=0), out

    def _fault_cleared(self, state: LineState, event: e.FaultCleared, now: Instant) -> Result:
        state = replace(state, faults=state.faults - {event.kind})
        out: list[Action] = [a.Note(None, "fault_cleared", None, {"fault": event.kind})]
        more: list[Action]
        state, more = self._maybe_step_in(state, now)
        return state, out + more

    def _maybe_step_in(self, state: LineState, now: Instant) -> Result:
        # Judged by time alone, so a lost RingStopped cannot keep the box out of the line for ever.
        quiet = now.mono - state.last_ring_at >= self.config.call.ring_gone_s
        if state.bypass and not state.faults and quiet and not state.phone_off_hook:
            return replace(state, bypass=False, phase=Phase.IDLE), [
                a.SetBypass(False, "ready"),
                a.SetLed("off"),
            ]
        return state, []

    def _bypassed(self, state: LineState, event: e.Event, now: Instant) -> Result:
        if isinstance(event, e.Tick | e.RingStopped | e.PhoneOnHook):
            return self._maybe_step_in(state, now)
        return state, []

    # -- idle and ringing ---------------------------------------------------------------------------

    def _new_call(self, state: LineState, direction: str, now: Instant) -> tuple[LineState, Call]:
        seq = state.seq + 1
        call = Call(
            call_id=f"{state.line}-{now.wall:%Y%m%d}-{seq:05d}", direction=direction, started=now.mono
        )
        return replace(state, seq=seq), call

    def _idle(self, state: LineState, event: e.Event, now: Instant) -> Result:
        if isinstance(event, e.CallerIdReceived):
            return replace(state, early_cid=(now.mono, event.number, event.name, event.absence)), []
        if isinstance(event, e.RingStarted):
            state, call = self._new_call(state, "in", now)
            if state.early_cid is not None and now.mono - state.early_cid[0] < 10.0:
                _, number, name, absence = state.early_cid
                call = replace(call, number=number, name=name, absence=absence)
            state = replace(state, phase=Phase.RINGING, call=call, ring_count=1, early_cid=None)
            out: list[Action] = [a.Note(call.call_id, "ring", None, {"ring": 1})]
            if self.config.call.answer_on_ring <= 1:
                return self._answer(state, now, out)
            return state, out
        if isinstance(event, e.PhoneOffHook):
            state, call = self._new_call(state, "out", now)
            call = replace(call, opened=True, recording=True, bridged=True, connected_at=now.mono)
            state = replace(state, phase=Phase.CONNECTED, call=call)
            return state, [
                a.SeizeLine(),
                a.OpenCall(call.call_id, "out"),
                a.Bridge(True),
                a.StartRecording(call.call_id),
                a.Note(call.call_id, "connected", None, {"direction": "out"}),
            ]
        return state, []

    def _ringing(self, state: LineState, event: e.Event, now: Instant) -> Result:
        call = _require(state)
        if isinstance(event, e.RingStopped) and state.faults:
            return self._enter_bypass(state, now, [], sorted(state.faults)[0])
        if isinstance(event, e.CallerIdReceived):
            call = replace(call, number=event.number, name=event.name, absence=event.absence)
            data: dict[str, str | int | float | bool | None] = {
                "number": event.number,
                "name": event.name,
                "absence": event.absence,
            }
            return replace(state, call=call), [a.Note(call.call_id, "callerid", None, data)]
        if isinstance(event, e.RingStarted):
            count = state.ring_count + 1
            state = replace(state, ring_count=count)
            out: list[Action] = [a.Note(call.call_id, "ring", None, {"ring": count})]
            if count >= self.config.call.answer_on_ring:
                return self._answer(state, now, out)
            return state, out
        if isinstance(event, e.PhoneOffHook):
            # Staff lifted the handset while the line rings: answer now; the notice still comes first.
            return self._answer(state, now, [])
        gone = now.mono - state.last_ring_at >= self.config.call.ring_gone_s
        if isinstance(event, e.Tick) and gone:
            out = [
                a.OpenCall(call.call_id, "in", call.number, call.name, call.absence),
                a.CloseCall(call.call_id, "missed", None, "caller"),
            ]
            return replace(state, phase=Phase.IDLE, call=None, ring_count=0), out
        return state, []

    def _answer(self, state: LineState, now: Instant, out: list[Action]) -> Result:
        call = replace(_require(state), opened=True)
        out = [*out, a.SeizeLine(), a.OpenCall(call.call_id, "in", call.number, call.name, call.absence)]
        lists = self.config.lists
        if call.number is not None and call.number in lists.blocklist:
            call = replace(call, outcome="blocked", basis=Basis.BLOCKED)
            return self._play_then(state, call, "blocked", Basis.BLOCKED, After.RELEASE, out)
        message = calendar_message(self.config.calendar, now.wall)
        if message is not None:
            basis = Basis.calendar(message.name)
            hold = message.hold and self.config.call.hold_message_pass_through
            if not hold:
                call = replace(call, outcome="calendar", basis=basis)
            return self._play_then(
                state, call, message.prompt, basis, After.NOTICE if hold else After.RELEASE, out
            )
        out.append(a.StartRecording(call.call_id))
        call = replace(call, recording=True)
        if not self.config.recording.notice:
            return self._ring_phone(replace(state, phase=Phase.ANNOUNCING, call=call), now, out)
        return self._play_then(state, call, "recording_notice", None, After.RING_PHONE, out)

    def _play_then(
        self, state: LineState, call: Call, prompt: str, basis: str | None, after: After, out: list[Action]
    ) -> Result:
        call = replace(call, prompt=prompt, after=after)
        out = [*out, a.PlayPrompt(prompt, e.Leg.LINE, basis)]
        if basis is not None:
            kind = "block_notice" if basis == Basis.BLOCKED else "calendar_message"
            out.append(a.Note(call.call_id, kind, basis, {"prompt": prompt}))
        return replace(state, phase=Phase.ANNOUNCING, call=call), out

    # -- announcing and ringing the desk phone ------------------------------------------------------

    def _announcing(self, state: LineState, event: e.Event, now: Instant) -> Result:
        call = _require(state)
        if isinstance(event, e.FarEndHangup):
            outcome = call.outcome if call.outcome != "completed" else "abandoned"
            return self._finish(state, outcome, call.basis, "caller")
        if isinstance(event, e.PromptFinished) and event.prompt == call.prompt:
            call = replace(call, prompt=None)
            state = replace(state, call=call)
            if call.after == After.NOTICE:
                out: list[Action] = [a.StartRecording(call.call_id)]
                call = replace(call, recording=True)
                if not self.config.recording.notice:
                    return self._ring_phone(replace(state, call=call), now, out)
                return self._play_then(state, call, "recording_notice", None, After.RING_PHONE, out)
            if call.after == After.RING_PHONE:
                return self._ring_phone(state, now, [])
            return self._finish(state, call.outcome, call.basis, "box")
        return state, []

    def _ring_phone(self, state: LineState, now: Instant, out: list[Action]) -> Result:
        call = _require(state)
        if state.phone_off_hook:
            return self._connect(state, now, out)
        call = replace(call, phone_ringing=True, tones=True, phone_ring_started=now.mono)
        out = [*out, a.RingPhone(call.number, call.name), a.StartTone("ringback", e.Leg.LINE)]
        return replace(state, phase=Phase.RINGING_PHONE, call=call), out

    def _connect(self, state: LineState, now: Instant, out: list[Action]) -> Result:
        call = _require(state)
        if call.phone_ringing:
            out.append(a.StopRingingPhone())
        if call.tones:
            out.append(a.StopTones())
        out += [a.Bridge(True), a.Note(call.call_id, "connected", None, {"direction": call.direction})]
        call = replace(call, phone_ringing=False, tones=False, bridged=True, connected_at=now.mono)
        return replace(state, phase=Phase.CONNECTED, call=call), out

    def _ringing_phone(self, state: LineState, event: e.Event, now: Instant) -> Result:
        call = _require(state)
        if isinstance(event, e.PhoneOffHook):
            return self._connect(state, now, [])
        if isinstance(event, e.FarEndHangup):
            return self._finish(state, "abandoned", None, "caller")
        started = call.phone_ring_started
        if (
            isinstance(event, e.Tick)
            and started is not None
            and now.mono - started >= self.config.call.phone_ring_timeout_s
        ):
            return self._finish(state, "unanswered", None, "box")
        return state, []

    # -- connected ----------------------------------------------------------------------------------

    def _connected(self, state: LineState, event: e.Event, now: Instant) -> Result:
        call = _require(state)
        if isinstance(event, e.FarEndHangup):
            return self._finish(state, call.outcome, call.basis, "caller")
        if isinstance(event, e.PhoneOnHook):
            return self._finish(state, call.outcome, call.basis, "staff")
        if isinstance(event, e.PromptFinished) and event.prompt == call.prompt:
            return self._prompt_done(state, now)
        if isinstance(event, e.RingStarted | e.CallerIdReceived | e.CallWaitingTone):
            # Call waiting: a second call announces itself; it is logged, never answered or prompted.
            return state, [a.Note(call.call_id, "call_waiting", None, {"signal": e.event_name(event)})]
        if isinstance(event, e.AbuseDetected):
            return self._abuse(state, event, now)
        if isinstance(event, e.ButtonPressed):
            return self._staff(state, now, cut=event.long, via="button")
        if isinstance(event, e.DtmfDigit) and event.leg == e.Leg.PHONE:
            return self._dtmf(state, event.digit, now)
        if isinstance(event, e.Tick):
            return self._clock(state, now)
        return state, []

    def _abuse(self, state: LineState, event: e.AbuseDetected, now: Instant) -> Result:
        call = _require(state)
        basis = Basis.abuse(event.category)
        data: dict[str, str | int | float | bool | None] = {
            "category": event.category.value,
            "tier": event.tier.value,
            "keyword": event.keyword,
            "score": round(event.score, e.SCORE_DECIMALS),
            "source": event.source,
        }
        busy = call.cutting or call.prompt is not None or now.mono < call.refractory_until
        if busy:
            return state, [a.Note(call.call_id, "detection_ignored", basis, data)]
        if event.tier == e.Tier.ALERT or event.source == "shouting":
            out: list[Action] = [a.Note(call.call_id, "staff_alert", basis, data), a.SetLed("blink")]
            if self.config.escalation.alert_tone:
                out.append(a.PlayTone("alert", e.Leg.PHONE))
            return replace(state, call=replace(call, alerted=True)), out
        given = call.warnings.get(event.category.value, 0)
        if given < self.config.escalation.warnings_before_cut:
            return self._warn(state, event.category.value, basis, now, data)
        return self._cut(state, basis, "cut", now, data)

    def _warn(
        self,
        state: LineState,
        key: str,
        basis: str,
        now: Instant,
        data: dict[str, str | int | float | bool | None] | None = None,
        after: After = After.NOTHING,
    ) -> Result:
        call = _require(state)
        warnings = dict(call.warnings)
        warnings[key] = warnings.get(key, 0) + 1
        call = replace(
            call,
            warnings=MappingProxyType(warnings),
            prompt="warning",
            after=after,
            refractory_until=now.mono + self.config.escalation.refractory_s,
            outcome="warned" if call.outcome == "completed" else call.outcome,
            basis=call.basis or basis,
        )
        out: list[Action] = [
            a.PlayPrompt("warning", e.Leg.LINE, basis),
            a.Note(call.call_id, "warning", basis, {**(data or {}), "count": warnings[key]}),
            a.SetLed("on"),
        ]
        return replace(state, call=call), out

    def _cut(
        self,
        state: LineState,
        basis: str,
        prompt: str,
        now: Instant,
        data: dict[str, str | int | float | bool | None] | None = None,
    ) -> Result:
        call = _require(state)
        out: list[Action] = []
        if call.prompt is not None:
            out.append(a.StopPrompt())
        out += [a.PlayPrompt(prompt, e.Leg.LINE, basis), a.Note(call.call_id, "cut", basis, dict(data or {}))]
        if call.number and basis != Basis.DURATION:
            out.append(a.RecordStrike(call.call_id, call.number, basis))
        call = replace(call, prompt=prompt, after=After.RELEASE, cutting=True, outcome="cut", basis=basis)
        return replace(state, call=call), out

    def _staff(self, state: LineState, now: Instant, cut: bool, via: str) -> Result:
        call = _require(state)
        data: dict[str, str | int | float | bool | None] = {"via": via, "long": cut}
        if call.cutting:
            return state, [a.Note(call.call_id, "staff_ignored", Basis.STAFF, data)]
        already_warned = call.total_warnings > 0
        if cut and not already_warned:
            if call.prompt is not None:
                state = replace(state, call=replace(call, prompt=None))
                state, out = self._warn(state, "staff", Basis.STAFF, now, data, after=After.CUT)
                return state, [a.StopPrompt(), *out]
            return self._warn(state, "staff", Basis.STAFF, now, data, after=After.CUT)
        if cut or (already_warned and self.config.escalation.staff_confirm_cuts):
            return self._cut(state, Basis.STAFF, "cut", now, data)
        if call.prompt is not None:
            return state, [a.Note(call.call_id, "staff_ignored", Basis.STAFF, data)]
        return self._warn(state, "staff", Basis.STAFF, now, data)

    def _dtmf(self, state: LineState, digit: str, now: Instant) -> Result:
        call = _require(state)
        staff = self.config.staff
        codes = {staff.dtmf_warn: "warn", staff.dtmf_cut: "cut", staff.dtmf_mark: "mark"}
        buffer = call.dtmf if now.mono - call.dtmf_at <= staff.dtmf_timeout_s else ""
        buffer += digit
        while buffer and not any(code.startswith(buffer) for code in codes):
            buffer = buffer[1:]
        command = codes.get(buffer)
        state = replace(state, call=replace(call, dtmf="" if command else buffer, dtmf_at=now.mono))
        if command == "mark":
            data: dict[str, str | int | float | bool | None] = {"via": "dtmf", "number": call.number}
            return state, [a.Note(call.call_id, "caller_marked", Basis.STAFF, data)]
        if command is not None:
            return self._staff(state, now, cut=command == "cut", via="dtmf")
        dialling = call.direction == "out" and now.mono - call.started < DIAL_WINDOW_S and digit.isdigit()
        if dialling and not buffer.startswith(("*", "#")):
            number = (call.number or "") + digit
            return replace(state, call=replace(_require(state), number=number[:20])), []
        return state, []

    def _clock(self, state: LineState, now: Instant) -> Result:
        call = _require(state)
        limits = self.config.duration
        if not limits.enabled or call.connected_at is None or call.cutting:
            return state, []
        elapsed = now.mono - call.connected_at
        if elapsed >= limits.cut_s:
            return self._cut(state, Basis.DURATION, "duration_cut", now, {"elapsed_s": round(elapsed, 1)})
        if elapsed >= limits.notice_s and not call.duration_noticed:
            if call.prompt is not None:
                return replace(state, call=replace(call, duration_notice_due=True)), []
            call = replace(call, duration_noticed=True, prompt="duration_notice", after=After.NOTHING)
            return replace(state, call=call), [
                a.PlayPrompt("duration_notice", e.Leg.LINE, Basis.DURATION),
                a.Note(call.call_id, "duration_notice", Basis.DURATION, {"elapsed_s": round(elapsed, 1)}),
            ]
        return state, []

    def _prompt_done(self, state: LineState, now: Instant) -> Result:
        call = replace(_require(state), prompt=None)
        state = replace(state, call=call)
        if call.after == After.CUT:
            return self._cut(state, call.basis or Basis.STAFF, "cut", now)
        if call.after == After.RELEASE:
            return self._finish(state, call.outcome, call.basis, "box")
        led: list[Action] = [a.SetLed("off")]
        if call.duration_notice_due:
            state, more = self._clock(replace(state, call=replace(call, duration_notice_due=False)), now)
            return state, led + more
        return state, led

    # -- release ------------------------------------------------------------------------------------

    def _releasing(self, state: LineState, event: e.Event, now: Instant) -> Result:
        if isinstance(event, e.PhoneOnHook):
            return replace(state, phase=Phase.IDLE), [a.StopTones()]
        return state, []

    def _finish(self, state: LineState, outcome: str, basis: str | None, ended_by: str) -> Result:
        state, out = self._release(state, outcome, basis, ended_by)
        if state.phone_off_hook:
            out.append(a.StartTone("reorder", e.Leg.PHONE))
            return replace(state, phase=Phase.RELEASING), out
        return replace(state, phase=Phase.IDLE), out

    @staticmethod
    def _release(
        state: LineState, outcome: str, basis: str | None, ended_by: str, relay_first: bool = False
    ) -> Result:
        call = _require(state)
        out: list[Action] = []
        if call.prompt is not None:
            out.append(a.StopPrompt())
        if call.tones:
            out.append(a.StopTones())
        if call.phone_ringing:
            out.append(a.StopRingingPhone())
        if call.bridged:
            out.append(a.Bridge(False))
        out.append(a.ReleaseLine())
        if call.recording:
            out.append(a.StopRecording(call.call_id))
        if call.opened:
            dialed = call.number if call.direction == "out" else None
            out.append(a.CloseCall(call.call_id, outcome, basis, ended_by, dialed))
        if not relay_first:
            out.append(a.SetLed("off"))
        return replace(state, call=None, ring_count=0), out


def _require(state: LineState) -> Call:
    if state.call is None:
        raise AssertionError(f"phase {state.phase} without a call")
    return state.call


def _call_id(state: LineState) -> str | None:
    return state.call.call_id if state.call else None
