"""The line leg's echo of the staff: the echo check alone, and the whole box on a line that echoes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.dsp.echo import EchoGate
from edge.ports import FRAME_SAMPLES
from edge.scenarios import CallScript, Scenario, scenario_config
from edge.simulate import SimResult, run_scenario

RNG = np.random.default_rng(5)


def _speechlike(frames: int, level: float) -> list[np.ndarray]:
    """Noise whose loudness comes and goes by syllable, as speech does (a 4 Hz envelope)."""
    t = np.arange(frames * FRAME_SAMPLES) / 8000
    envelope = 0.15 + 0.85 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    x = RNG.normal(0.0, level, t.size) * envelope
    pcm = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(frames)]


def _through(gate: EchoGate, sent: list[np.ndarray], line: list[np.ndarray]) -> list[bool]:
    """What the runtime does each frame: judge the line frame, then note what the box sent."""
    out = []
    for s, heard in zip(sent, line, strict=True):
        out.append(gate.is_echo(heard))
        gate.sent(s)
    return out


def _echo_of(sent: list[np.ndarray], loss_db: float, delay_frames: int) -> list[np.ndarray]:
    gain = 10 ** (-loss_db / 20)
    silent = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    late = [silent] * delay_frames + sent[: len(sent) - delay_frames]
    return [np.round(f * gain).astype(np.int16) for f in late]


@pytest.mark.parametrize("delay_frames", [1, 4, 9])
def test_the_echo_alone_is_withheld_at_any_delay_within_the_window(delay_frames: int) -> None:
    gate = EchoGate(return_loss_db=6.0, window_frames=10)
    staff = _speechlike(150, 3000.0)
    judged = _through(gate, staff, _echo_of(staff, 12.0, delay_frames))
    assert all(judged[delay_frames:])


def test_an_echo_louder_than_the_return_loss_allows_is_taken_for_the_caller() -> None:
    # A line returning only 3 dB breaks the check's assumption (6 dB): its frames are let through, so
    # the check costs the caller nothing where it cannot tell.
    gate = EchoGate(return_loss_db=6.0, window_frames=10)
    staff = _speechlike(150, 3000.0)
    judged = _through(gate, staff, _echo_of(staff, 3.0, 1))
    assert sum(judged) < 0.5 * len(judged)


def _mixed(a: list[np.ndarray], b: list[np.ndarray]) -> list[np.ndarray]:
    return [
        np.clip(x.astype(np.int32) + y, -32768, 32767).astype(np.int16) for x, y in zip(a, b, strict=True)
    ]


def test_the_caller_speaking_over_the_staff_is_heard() -> None:
    gate = EchoGate(return_loss_db=6.0, window_frames=10)
    staff = _speechlike(150, 3000.0)
    caller = _speechlike(150, 3000.0)
    judged = _through(gate, staff, _mixed(caller, _echo_of(staff, 15.0, 2)))
    # Double talk at equal levels: once a frame is louder than any echo could be, the caller's quiet
    # troughs are theirs too (the hangover); only the first frames, before they spoke up, can be lost.
    assert sum(judged) <= 5
    loud = [i for i, c in enumerate(caller) if float(np.mean(c.astype(float) ** 2)) > 3000.0**2 * 0.5]
    assert loud and not any(judged[i] for i in loud)


def _learned(gate: EchoGate, loss_db: float, caller: list[np.ndarray] | None = None) -> EchoGate:
    """The recording notice's 6 s played to a line that returns it ``loss_db`` down (the caller mostly still)."""
    notice = _speechlike(300, 3000.0)
    echo = _echo_of(notice, loss_db, 2)
    heard = _mixed(echo, caller) if caller is not None else echo
    for sent, line in zip(notice, heard, strict=True):
        gate.learn(line)
        gate.sent(sent)
    gate.reset()
    return gate


def test_the_line_echo_measured_on_the_notice_lets_a_quieter_caller_through_double_talk() -> None:
    fixed = EchoGate(return_loss_db=6.0, window_frames=10)
    learned = _learned(EchoGate(return_loss_db=6.0, window_frames=10), 15.0)
    assert 11.0 <= learned.return_loss_db <= 15.0
    staff = _speechlike(150, 3000.0)
    caller = _speechlike(150, 3000.0 * 10 ** (-8 / 20))  # 8 dB under the staff, as a caller down a long line
    line = _mixed(caller, _echo_of(staff, 15.0, 2))
    assert sum(_through(learned, staff, line)) < 0.1 * len(line)
    assert sum(_through(fixed, staff, line)) > 0.5 * len(line)  # at G.168's 6 dB it would be lost
    # The staff alone is still the echo for the learned check.
    again = _learned(EchoGate(return_loss_db=6.0, window_frames=10), 15.0)
    assert sum(_through(again, staff, _echo_of(staff, 15.0, 2))) > 0.95 * len(staff)


def test_what_is_learned_is_never_looser_than_configured_and_a_caller_on_the_notice_moves_it_little() -> None:
    poor_line = _learned(EchoGate(return_loss_db=6.0, window_frames=10), 4.0)
    assert poor_line.return_loss_db == pytest.approx(6.0)  # a 4 dB echo: the check fails open, as set
    hello = [np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 100 + _speechlike(30, 1500.0)
    hello += [np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 170
    spoken_over = _learned(EchoGate(return_loss_db=6.0, window_frames=10), 15.0, hello)
    assert spoken_over.return_loss_db >= 9.0
    good_line = _learned(EchoGate(return_loss_db=6.0, window_frames=10), 45.0)
    assert good_line.return_loss_db == pytest.approx(30.0)  # the tightest it gets


def test_once_the_staff_stop_the_window_ends_and_quiet_callers_are_heard() -> None:
    gate = EchoGate(return_loss_db=6.0, window_frames=10)
    staff = _speechlike(50, 3000.0) + [np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 50
    quiet_caller = [np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 50 + _speechlike(50, 100.0)
    judged = _through(gate, staff, quiet_caller)
    assert all(judged[40:50])  # still within the window: what is heard could be the echo
    assert not any(judged[61:])


def test_zero_return_loss_turns_the_check_off_and_a_new_call_starts_clean() -> None:
    staff = _speechlike(30, 3000.0)
    off = EchoGate(return_loss_db=0.0, window_frames=10)
    assert not any(_through(off, staff, _echo_of(staff, 20.0, 1)))
    on = EchoGate(return_loss_db=6.0, window_frames=10)
    _through(on, staff, _echo_of(staff, 20.0, 1))
    on.reset()
    assert not on.is_echo(_echo_of(staff, 20.0, 0)[-1])
    withheld = on.caller_only(np.full(FRAME_SAMPLES, 5, dtype=np.int16))
    assert withheld.any() and on.echo_frames == 0


# The staff's own greeting: "전화 주셔서 감사합니다" reads as 죽여버린다 to the shipped model in several
# espeak voices (ko+f2 among them), just under the caller-warning threshold: it alerts staff.
GREETING = "전화 주셔서 감사합니다"


def _greeting_call(detection: dict[str, Any], data_dir: Path, caller: str | None = None) -> SimResult:
    steps: list[dict[str, Any]] = [
        {"at": 0.5, "staff_say": GREETING, "voice": "ko+f2"},
        {"at": 4.0, "staff_say": "네 " + GREETING, "voice": "ko+f2"},
    ]
    if caller is not None:
        steps.append({"at": 8.0, "say": caller})
    steps.append({"at": 14.0, "hangup": "caller"})
    scenario = Scenario(
        name="greeting", calls=[CallScript.model_validate({"number": "01012345678", "steps": steps})]
    )
    config = scenario_config(scenario)
    config = config.model_copy(
        update={"detection": config.detection.model_copy(update=detection), "sim": config.sim}
    )
    assert config.sim.echo_return_loss_db == 15.0  # the sim's line echoes, as a DAA's hybrid does
    return run_scenario(scenario, config, data_dir)


def _abuse(result: SimResult) -> list[tuple[str, str]]:
    return [
        (r.type, str(r.data.get("keyword")))
        for r in result.timeline
        if r.type in ("staff_alert", "warning", "cut", "detection_ignored")
    ]


def test_the_staffs_greeting_echoed_on_the_line_leg_is_not_taken_for_the_caller(tmp_path: Path) -> None:
    without = _greeting_call({"echo_return_loss_db": 0.0, "calibration_enabled": False}, tmp_path / "off")
    assert ("staff_alert", "jugyeo") in _abuse(without), "the echo of the greeting no longer trips the model"
    with_check = _greeting_call({"calibration_enabled": False}, tmp_path / "on")
    assert _abuse(with_check) == []
    detector = with_check.appliance.status()["detector"]
    assert detector["echo_frames_withheld"] > 100  # the greetings' frames, some 5 s of them


def test_a_caller_who_swears_after_the_greeting_is_still_warned(tmp_path: Path) -> None:
    result = _greeting_call({"calibration_enabled": False}, tmp_path, caller="씨발, 일 똑바로 안 해?")
    assert ("warning", "ssibal") in _abuse(result)
