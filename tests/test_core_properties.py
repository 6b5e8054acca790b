"""Property tests of the call machine: any event sequence keeps relays legal, prompts out of
conversations, and every call record closed."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import default_config
from edge.core import actions as a
from edge.core import events as e
from edge.core.machine import IN_CALL_PROMPTS, PRE_CONNECTION_PROMPTS, CallMachine
from edge.core.state import LineState, Phase
from tests.conftest import at

CONFIG = default_config().model_copy(
    update={"lists": default_config().lists.model_copy(update={"blocklist": ("01099998888",)})}
)
MACHINE = CallMachine(CONFIG)


@dataclass
class World:
    """What the actions have done to the hardware so far, to check invariants against."""

    seized: bool = False
    bridged: bool = False
    bypass: bool = True
    prompt: str | None = None
    phone_ringing: bool = False
    opened: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)

    def apply(self, state_before: LineState, actions: list[a.Action]) -> None:
        for action in actions:
            if isinstance(action, a.SeizeLine):
                assert not self.bypass, "the box seized the line while in bypass"
                self.seized = True
            elif isinstance(action, a.ReleaseLine):
                self.seized = False
            elif isinstance(action, a.Bridge):
                self.bridged = action.on
            elif isinstance(action, a.PlayPrompt):
                if self.bridged:
                    assert action.prompt in IN_CALL_PROMPTS, f"{action.prompt} played into a conversation"
                    assert action.prompt not in PRE_CONNECTION_PROMPTS
                assert self.seized, "a prompt was played with the line on hook"
                self.prompt = action.prompt
            elif isinstance(action, a.StopPrompt):
                self.prompt = None
            elif isinstance(action, a.SetBypass):
                if not action.on:
                    assert state_before.call is None and not self.seized, "stepped into the line mid-call"
                self.bypass = action.on
            elif isinstance(action, a.RingPhone):
                self.phone_ringing = True
            elif isinstance(action, a.StopRingingPhone):
                self.phone_ringing = False
            elif isinstance(action, a.OpenCall):
                assert action.call_id not in self.opened, "a call record was opened twice"
                self.opened.add(action.call_id)
            elif isinstance(action, a.CloseCall):
                assert action.call_id in self.opened, "a call record closed that was never opened"
                assert action.call_id not in self.closed, "a call record closed twice"
                self.closed.add(action.call_id)

    def check(self, state: LineState) -> None:
        assert (state.call is None) == (state.phase in (Phase.IDLE, Phase.RELEASING))
        live = state.phase in (Phase.ANNOUNCING, Phase.RINGING_PHONE, Phase.CONNECTED)
        assert self.seized == live, f"line seized={self.seized} in phase {state.phase}"
        assert self.bridged == (state.phase == Phase.CONNECTED)
        assert not (self.bypass and (self.seized or self.bridged)), "bypass with the box in the call"
        assert self.bypass == state.bypass
        if state.phase != Phase.RINGING_PHONE:
            assert not self.phone_ringing, "the desk phone kept ringing"


simple_events = st.sampled_from(
    [
        e.RingStarted(),
        e.RingStopped(),
        e.CallerIdReceived("01012345678"),
        e.CallerIdReceived("01099998888"),
        e.FarEndHangup(),
        e.CallWaitingTone(),
        e.PhoneOffHook(),
        e.PhoneOnHook(),
        e.ButtonPressed(long=False),
        e.ButtonPressed(long=True),
        e.FaultRaised("audio"),
        e.FaultCleared("audio"),
        e.FaultCleared("startup"),
        e.Tick(),
    ]
)
digits = st.sampled_from("*#0123456789").map(lambda d: e.DtmfDigit(d))
abuse = st.builds(e.AbuseDetected, st.sampled_from(list(e.Category)), st.sampled_from(list(e.Tier)))
finish = st.just("finish")
random_steps = st.lists(
    st.tuples(
        st.one_of(simple_events, digits, abuse, finish, finish),
        st.sampled_from([0.0, 0.02, 0.5, 1.0, 3.0, 10.0, 400.0]),
    ),
    max_size=60,
)
READY: list[tuple[object, float]] = [(e.FaultCleared("startup"), 0.0), (e.Tick(), 10.0)]
TO_RINGING = [
    *READY,
    (e.RingStarted(), 1.0),
    (e.RingStopped(), 1.0),
    (e.CallerIdReceived("01012345678"), 0.5),
]
TO_ANNOUNCING = [*TO_RINGING, (e.RingStarted(), 1.5)]
TO_RINGING_PHONE = [*TO_ANNOUNCING, ("finish", 6.0)]
TO_CONNECTED = [*TO_RINGING_PHONE, (e.PhoneOffHook(), 3.0)]
TO_OUTGOING = [*READY, (e.PhoneOffHook(), 1.0)]
TO_BLOCKED = [
    *READY,
    (e.CallerIdReceived("01099998888"), 0.5),
    (e.RingStarted(), 0.5),
    (e.RingStarted(), 3.0),
]
prefixes = st.sampled_from(
    [[], READY, TO_RINGING, TO_ANNOUNCING, TO_RINGING_PHONE, TO_CONNECTED, TO_OUTGOING, TO_BLOCKED]
)
steps = st.builds(lambda prefix, rest: [*prefix, *rest], prefixes, random_steps)


def run(events: list[tuple[object, float]]) -> tuple[LineState, World, float]:
    state = LineState()
    world = World()
    t = 0.0
    for item, dt_s in events:
        t += dt_s
        if item == "finish":
            if world.prompt is None:
                continue
            event: e.Event = e.PromptFinished(world.prompt)
            world.prompt = None
        else:
            assert isinstance(item, (*e.Event.__args__,))  # type: ignore[attr-defined]
            event = item  # type: ignore[assignment]
        before = state
        state, actions = MACHINE.step(state, event, at(t))
        world.apply(before, actions)
        world.check(state)
    return state, world, t


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_any_sequence_keeps_relays_legal_and_prompts_out_of_conversations(
    events: list[tuple[object, float]],
) -> None:
    run(events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_every_call_record_closes_once_everyone_hangs_up(events: list[tuple[object, float]]) -> None:
    state, world, t = run(events)
    drain: list[e.Event] = [e.RingStopped(), e.FarEndHangup()]
    for event in drain:
        t += 0.02
        before = state
        state, actions = MACHINE.step(state, event, at(t))
        world.apply(before, actions)
    for _ in range(3):
        if world.prompt is not None:
            t += 0.02
            before = state
            state, actions = MACHINE.step(state, e.PromptFinished(world.prompt), at(t))
            world.prompt = None
            world.apply(before, actions)
    for event, dt_s in [(e.PhoneOnHook(), 0.02), (e.Tick(), 100.0), (e.Tick(), 5000.0)]:
        t += dt_s
        before = state
        state, actions = MACHINE.step(state, event, at(t))
        world.apply(before, actions)
        world.check(state)
    assert world.opened == world.closed, f"calls left open: {world.opened - world.closed}"
    assert state.call is None and state.phase == Phase.IDLE
    assert not world.seized and not world.bridged
