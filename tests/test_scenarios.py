"""Every shipped scenario through the whole appliance on the sim backend: exact actions and legal bases."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.scenarios import CallScript, Scenario, load_scenario, scenario_config, shipped_scenarios
from edge.simulate import SimResult, run_scenario

FLOW = {
    "call_started",
    "prompt",
    "phone_ringing",
    "connected",
    "warning",
    "cut",
    "staff_alert",
    "duration_notice",
    "strike",
    "call_ended",
    "block_notice",
    "calendar_message",
    "caller_marked",
    "tone",
}
NOTICE = [("call_started", None, None), ("prompt", "recording_notice", None), ("phone_ringing", None, None)]
ANSWERED = [*NOTICE, ("connected", None, None)]


def staff_cut(basis: str) -> list[tuple[str, str | None, str | None]]:
    return [
        ("prompt", "warning", basis),
        ("warning", None, basis),
        ("prompt", "cut", basis),
        ("cut", None, basis),
        ("strike", None, basis),
        ("call_ended", "cut", basis),
    ]


EXPECTED: dict[str, list[tuple[str, str | None, str | None]]] = {
    "01_normal_call": [*ANSWERED, ("call_ended", "completed", None)],
    "02_lunch_hour": [
        ("call_started", None, None),
        ("prompt", "lunch", "calendar.lunch"),
        ("calendar_message", "lunch", "calendar.lunch"),
        ("call_ended", "calendar", "calendar.lunch"),
    ],
    "03_blocked_number": [
        ("call_started", None, None),
        ("prompt", "blocked", "blocked.number"),
        ("block_notice", "blocked", "blocked.number"),
        ("call_ended", "blocked", "blocked.number"),
    ],
    "04_duration_cut": [
        *ANSWERED,
        ("prompt", "duration_notice", "duration.limit"),
        ("duration_notice", None, "duration.limit"),
        ("prompt", "duration_cut", "duration.limit"),
        ("cut", None, "duration.limit"),
        ("call_ended", "cut", "duration.limit"),
    ],
    "05_staff_button_cut": [*ANSWERED, *staff_cut("staff.request")],
    "06_dtmf_cut": [*ANSWERED, *staff_cut("staff.request")],
    "07_abusive_caller": [
        *ANSWERED,
        # The first 씨발 crosses the caller-warning threshold: the warning plays. The caller says 개새끼 over
        # that prompt, whose echo the sim's line returns 15 dB down; the box's canceller takes it off (without
        # it 개새끼 only reached the staff-alert tier). 개새끼 crosses the warning threshold; it is the next
        # profanity after a warning in that category, so it ends the call.
        ("prompt", "warning", "abuse.profanity"),
        ("warning", None, "abuse.profanity"),
        ("prompt", "cut", "abuse.profanity"),
        ("cut", None, "abuse.profanity"),
        ("strike", None, "abuse.profanity"),
        ("call_ended", "cut", "abuse.profanity"),
    ],
    "08_outgoing_call": [
        ("call_started", None, None),
        ("connected", None, None),
        ("call_ended", "completed", None),
    ],
    "09_caller_hangs_up_during_notice": [
        ("call_started", None, None),
        ("prompt", "recording_notice", None),
        ("call_ended", "abandoned", None),
    ],
    "10_call_waiting": [*ANSWERED, ("call_ended", "completed", None)],
}


def flow(result: SimResult) -> list[tuple[str, str | None, str | None]]:
    return [
        (r.type, r.data.get("prompt") or r.data.get("outcome") or r.data.get("tone"), r.basis)
        for r in result.timeline
        if r.type in FLOW
    ]


def run(path: Path, data_dir: Path) -> SimResult:
    scenario = load_scenario(path)
    return run_scenario(scenario, scenario_config(scenario), data_dir)


def test_every_shipped_scenario_has_an_expected_sequence() -> None:
    assert sorted(EXPECTED) == [p.stem for p in shipped_scenarios()]


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_actions_and_bases(path: Path, tmp_path: Path) -> None:
    result = run(path, tmp_path)
    assert flow(result) == EXPECTED[path.stem]
    assert result.expectation_failures() == []
    hw = result.world.hardware
    assert not hw.line.off_hook, "the line is released at the end"
    assert hw.relays.history[:2] == [(0.0, True), (0.0, False)], "the box steps into the line once ready"
    assert hw.relays.bypass, "closing the appliance leaves the phone on the wall line"
    assert all(call["ended"] is not None for call in result.calls), "every call record is closed"
    if any(t == "phone_ringing" for t, _, _ in EXPECTED[path.stem]):
        script = result.scenario.calls[0]
        assert hw.phone.caller_id_shown[0][0] == script.number, "caller ID is passed on to the desk phone"
    if "duration" in path.stem:
        # Twenty simulated minutes, cut at the call-length limit (the scenario's one long run in the suite).
        assert result.sim_seconds > 1200
        assert result.calls[0]["duration_s"] == pytest.approx(1214.1, abs=1.0)


def test_realtime_mode_follows_the_wall_clock(tmp_path: Path) -> None:
    scenario = Scenario(name="missed", calls=[CallScript(number="01011112222", gives_up_after_rings=1)])
    config = scenario_config(scenario).model_copy()
    config = config.model_copy(update={"call": config.call.model_copy(update={"ring_gone_s": 4.0})})
    started = time.monotonic()
    result = run_scenario(scenario, config, tmp_path, realtime=True, settle_s=0.2)
    elapsed = time.monotonic() - started
    assert result.outcomes() == ["missed"]
    assert elapsed >= result.sim_seconds * 0.95


def test_scenario_strikes_accumulate_across_calls(tmp_path: Path) -> None:
    path = next(p for p in shipped_scenarios() if "button" in p.stem)
    scenario = load_scenario(path)
    three = scenario.model_copy(
        update={"calls": [c.model_copy(update={"at": 200.0 * i}) for i in range(3) for c in scenario.calls]}
    )
    result = run_scenario(three, scenario_config(three), tmp_path)
    strikes = [r for r in result.timeline if r.type == "strike"]
    assert [s.data["strikes"] for s in strikes] == [1, 2, 3]
    proposed = [r for r in result.timeline if r.type == "block_proposed"]
    assert len(proposed) == 1 and proposed[0].data["number"] == "01077776666"


def test_busy_tone_alone_ends_the_call_and_its_recording(tmp_path: Path) -> None:
    scenario = Scenario(
        name="busy",
        calls=[
            CallScript.model_validate(
                {
                    "number": "01012345678",
                    "hangup_signal": "busy_tone",
                    "steps": [{"at": 5.0, "hangup": "caller"}],
                }
            )
        ],
    )
    result = run_scenario(scenario, scenario_config(scenario), tmp_path)
    hangup = next(r for r in result.timeline if r.type == "far_end_hangup")
    ended = next(r for r in result.timeline if r.type == "call_ended")
    connected = next(r for r in result.timeline if r.type == "connected")
    assert hangup.data["cause"] == "busy_tone"
    assert ended.t - (connected.t + 5.0) <= 2.0, "a far-end hang-up ends the call within 2 s"


def test_caller_id_and_staff_codes_travel_as_real_signals(tmp_path: Path) -> None:
    result = run(next(p for p in shipped_scenarios() if "dtmf" in p.stem), tmp_path)
    assert result.calls[0]["number"] == "01033332222", "decoded from Bell 202 FSK between the rings"
    assert list(result.appliance.line.signals.caller_id_raw) == [{"standard": "bell202", "checksum_ok": True}]
    bases = [r.basis for r in result.timeline if r.type in ("warning", "cut")]
    assert bases == ["staff.request", "staff.request"], "decoded from DTMF tones on the phone leg"


def test_call_waiting_is_logged_and_never_prompted(tmp_path: Path) -> None:
    result = run(next(p for p in shipped_scenarios() if "waiting" in p.stem), tmp_path)
    waiting = [r for r in result.timeline if r.type == "call_waiting"]
    assert waiting and waiting[0].data["signal"] == "caller_id_received"
    connected = next(r.t for r in result.timeline if r.type == "connected")
    prompts = [r for r in result.timeline if r.type == "prompt" and r.t > connected]
    assert prompts == [], "nothing is played into the conversation"


def test_the_abusive_caller_is_heard_by_the_shipped_model(tmp_path: Path) -> None:
    result = run(next(p for p in shipped_scenarios() if "abusive" in p.stem), tmp_path)
    acted = [r for r in result.timeline if r.type in ("warning", "cut", "staff_alert")]
    assert acted and all(r.data["source"] == "model" for r in acted), (
        "no injected detections: the model hears it"
    )
    first_swear = next(r for r in result.timeline if r.type == "connected").t + 8.0
    assert acted[0].t - first_swear <= 1.0, "the first insult is acted on within a second of its start"


def test_an_abusive_caller_the_box_cut_does_not_teach_calibration_to_ignore_the_next_one(
    tmp_path: Path,
) -> None:
    """Self-calibration learns from ordinary calls only: a call the box cut for abuse is not one."""
    scenario = load_scenario(next(p for p in shipped_scenarios() if p.stem == "07_abusive_caller"))
    config = scenario_config(scenario)
    calibration = tmp_path / "kws-calibration.json"  # as the daemon keeps it across calls and restarts
    config = config.model_copy(
        update={"detection": config.detection.model_copy(update={"calibration_file": calibration})}
    )
    first = run_scenario(scenario, config, tmp_path)
    second = run_scenario(scenario, config, tmp_path)
    assert [c["outcome"] for c in first.calls] == ["cut"]
    assert [c["outcome"] for c in second.calls] == ["cut"]
    assert not calibration.exists(), "a cut call fed the calibration"
    # An ordinary call on the same box does feed it.
    ordinary = load_scenario(next(p for p in shipped_scenarios() if p.stem == "01_normal_call"))
    run_scenario(ordinary, config, tmp_path)
    state = json.loads(calibration.read_text(encoding="utf-8"))
    assert state["calls"] == 1 and state["speech_h"] > 0


def test_the_simulated_parts_keep_a_bounded_history() -> None:
    """A sim daemon or a soak runs for days: the simulated relay's log keeps its newest entries only."""
    import datetime as dt

    from edge.backends.sim.world import HISTORY_KEPT, SimWorld

    world = SimWorld(None, dt.datetime(2026, 11, 23, 10, 0))
    relays = world.hardware.relays
    for i in range(3 * HISTORY_KEPT):
        relays.set_bypass(i % 2 == 1)
    assert HISTORY_KEPT // 2 <= len(relays.history) <= HISTORY_KEPT
    assert relays.history[-1][1] is True and relays.history[-2][1] is False  # the newest are kept
