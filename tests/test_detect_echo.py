"""Each leg's echo of the other: the echo check and canceller alone, and the whole box on a line and a desk phone
that echo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from edge.dsp.echo import EchoCanceller, EchoGate, LineEcho, mean_square
from edge.dsp.generate import dtmf_digits
from edge.dsp.levels import to_pcm
from edge.ports import FRAME_SAMPLES
from edge.scenarios import CallScript, Scenario, scenario_config
from edge.simulate import SimResult, run_scenario
from tests.dsp_support.signals import echo_path

RNG = np.random.default_rng(5)


def _speechlike(frames: int, level: float) -> list[np.ndarray]:
    """Noise whose loudness comes and goes by syllable, as speech does (a 4 Hz envelope)."""
    t = np.arange(frames * FRAME_SAMPLES) / 8000
    envelope = 0.15 + 0.85 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    x = RNG.normal(0.0, level, t.size) * envelope
    pcm = to_pcm(x)
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(frames)]


def _through(gate: EchoGate, sent: list[np.ndarray], line: list[np.ndarray]) -> list[bool]:
    """What the runtime does each frame: judge the line frame, then note what the box sent."""
    out = []
    for s, heard in zip(sent, line, strict=True):
        out.append(gate.is_echo(mean_square(heard)))
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
        gate.learn(mean_square(line))
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
    assert not on.is_echo(mean_square(_echo_of(staff, 20.0, 0)[-1]))


def _path(
    sent: list[np.ndarray], loss_db: float, late: int = FRAME_SAMPLES + 37, hybrid: int = 11
) -> list[np.ndarray]:
    """``sent`` through an echo path: ``late`` samples of buffering, a hybrid's 6 ms of ringing, ``loss_db`` down."""
    x = np.concatenate(sent).astype(np.float64)
    y = lfilter(echo_path(late, hybrid), 1.0, x)
    y *= np.sqrt(np.mean(x**2) / np.mean(y**2)) * 10 ** (-loss_db / 20)
    pcm = to_pcm(y)
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(len(sent))]


def _erle(echo: LineEcho, sent: list[np.ndarray], line: list[np.ndarray]) -> float:
    """dB the canceller takes off the line, frozen (as over a caller), on frames where something was sent."""
    assert echo.canceller is not None
    before = after = 0.0
    for s_frame, heard in zip(sent, line, strict=True):
        residual = echo.canceller.cancel(heard)
        before += mean_square(heard)
        after += float(np.mean(residual**2))
        echo.sent(s_frame)
    return float(10 * np.log10(before / after))


def _notice_heard(
    echo: LineEcho, loss_db: float, caller: list[np.ndarray] | None = None, late: int = FRAME_SAMPLES + 37
) -> None:
    notice = _speechlike(300, 3000.0)
    line = _path(notice, loss_db, late)
    if caller is not None:
        line = _mixed(line, caller)
    echo.reset()
    for s_frame, heard in zip(notice, line, strict=True):
        echo.heard(heard, bridged=False)
        echo.sent(s_frame)
    echo.reset()


def test_the_canceller_learns_the_echo_path_on_the_notice_and_takes_it_off() -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 10.0)
    staff = _speechlike(150, 3000.0)
    assert _erle(echo, staff, _path(staff, 10.0)) > 20.0
    assert echo.cancelled_db is not None and echo.cancelled_db > 15.0
    # A tail shorter than the echo path's delay cannot reach it: 3 frames late, a 2-frame tail.
    late = 3 * FRAME_SAMPLES + 37
    short = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=2)
    _notice_heard(short, 10.0, late=late)
    assert _erle(short, staff, _path(staff, 10.0, late)) < 3.0
    long = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(long, 10.0, late=late)
    assert _erle(long, staff, _path(staff, 10.0, late)) > 20.0


def test_a_caller_talking_over_the_notice_does_not_pull_the_canceller_off() -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 10.0)
    learned = echo.canceller.adaptations if echo.canceller else 0
    _notice_heard(echo, 10.0, caller=_speechlike(300, 3000.0))  # the whole notice, at its own level
    assert echo.canceller is not None and echo.canceller.adaptations - learned < 30
    staff = _speechlike(150, 3000.0)
    assert _erle(echo, staff, _path(staff, 10.0)) > 20.0


def test_with_nothing_sent_the_caller_passes_untouched() -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 10.0)
    caller = _speechlike(50, 2000.0)
    out = [echo.heard(frame, bridged=True) for frame in caller]
    assert all(np.array_equal(a, b) for a, b in zip(caller, out, strict=True))
    off = LineEcho(return_loss_db=0.0, window_frames=10, tail_frames=8)
    assert off.canceller is None and off.cancelled_db is None


def test_the_canceller_finds_where_the_echo_comes_back() -> None:
    canceller = EchoCanceller(tail_frames=4)
    sent = _speechlike(300, 3000.0)
    line = _path(sent, 6.0)
    for s_frame, heard in zip(sent, line, strict=True):
        canceller.cancel(heard)
        canceller.adapt()
        canceller.sent(s_frame)
    taps = canceller.taps()
    assert taps.size == 4 * FRAME_SAMPLES and canceller.adaptations == 300
    line_echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=4)
    assert line_echo.delay_ms is None  # nothing learned yet
    _notice_heard(line_echo, 10.0)
    assert line_echo.delay_ms == (FRAME_SAMPLES + 37) / 8.0
    # The path is the frame before plus 37 samples, then the hybrid's ringing, strongest at its start.
    assert int(np.argmax(np.abs(taps))) == 37
    assert np.abs(taps[:30]).max() < 0.1 * np.abs(taps).max()


def test_what_the_canceller_leaves_of_the_echo_over_the_lines_hiss_is_not_taken_for_a_caller() -> None:
    hiss = np.random.default_rng(8)

    def noisy(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [np.clip(f + hiss.normal(0.0, 30.0, f.size), -32768, 32767).astype(np.int16) for f in frames]

    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    notice = _speechlike(300, 3000.0)
    echo.reset()
    for s_frame, heard in zip(notice, noisy(_path(notice, 15.0)), strict=True):
        echo.heard(heard, bridged=False)
        echo.sent(s_frame)
    assert echo.return_loss_db > 25.0  # the residual's level: the check is now tight
    echo.reset()
    staff = _speechlike(250, 3000.0)
    before = echo.echo_frames
    for s_frame, heard in zip(staff, noisy(_path(staff, 15.0)), strict=True):
        echo.heard(heard, bridged=True)
        echo.sent(s_frame)
    assert echo.echo_frames - before > 0.95 * len(staff) - 2  # all but the first frames, before any echo


def test_a_canceller_that_adds_echo_is_started_again() -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 10.0)
    assert echo.canceller is not None
    # The line's echo path turns over (polarity flipped, as a re-routed call may): the learned filter now
    # doubles the echo, the check still reads it as echo alone (15 dB under what was sent), and the
    # canceller drops what it learned and learns again.
    staff = _speechlike(400, 3000.0)
    flipped = [(-f).astype(np.int16) for f in _path(staff, 16.0)]
    for s_frame, heard in zip(staff, flipped, strict=True):
        echo.heard(heard, bridged=True)
        echo.sent(s_frame)
    assert echo.resets >= 1
    assert _erle(echo, staff[:150], [(-f).astype(np.int16) for f in _path(staff[:150], 16.0)]) > 10.0


@pytest.mark.parametrize("later", [0, 5])
def test_a_line_switched_to_another_circuit_mid_call_is_learned_again(later: int) -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 15.0)
    # Mid-call the line moves to a circuit whose hybrid rings differently (pipeline/echo_check.py --path
    # changing). The learned filter then leaves as much echo as it is given or a little less (the guard,
    # which waits for twice as much, stays quiet), too much for the check learned on the notice: the echo
    # would reach the detector as the caller for the rest of the call, and the working filter, which
    # learns only from echo alone, would never learn the new path.
    staff = _speechlike(400, 3000.0)
    moved = _path(staff, 15.0, late=FRAME_SAMPLES + 37 + later, hybrid=12)
    withheld = []
    for s_frame, heard in zip(staff, moved, strict=True):
        withheld.append(not np.any(echo.heard(heard, bridged=True)))
        echo.sent(s_frame)
    assert echo.swaps >= 1 and echo.resets == 0
    assert all(withheld[-300:])  # within 2 s the new circuit's echo is held back again
    fresh = _speechlike(150, 3000.0)
    assert _erle(echo, fresh, _path(fresh, 15.0, late=FRAME_SAMPLES + 37 + later, hybrid=12)) > 20.0


@pytest.mark.parametrize("under_db", [0.0, 6.0, 14.0, 24.0])
def test_a_caller_talking_under_the_staff_does_not_replace_the_echo_path(under_db: float) -> None:
    echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
    _notice_heard(echo, 15.0)
    # 12 s of double talk on an unchanged line: frames the check gives the caller while the loose check
    # could still call them echo are where the shadow filter learns. It must not win on a voice.
    staff = _speechlike(600, 3000.0)
    caller = _speechlike(600, 3000.0 * 10 ** (-under_db / 20))
    heard_frames = 0
    for s_frame, heard in zip(staff, _mixed(_path(staff, 15.0), caller), strict=True):
        heard_frames += bool(np.any(echo.heard(heard, bridged=True)))
        echo.sent(s_frame)
    assert echo.swaps == 0 and echo.resets == 0
    assert heard_frames == 600  # every frame of the caller reached the detector
    fresh = _speechlike(150, 3000.0)
    assert _erle(echo, fresh, _path(fresh, 15.0)) > 20.0


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
    tripped = [keyword for _kind, keyword in _abuse(without)]
    assert "jugyeo" in tripped, "the echo of the greeting no longer trips the model"
    with_check = _greeting_call({"calibration_enabled": False}, tmp_path / "on")
    assert _abuse(with_check) == []
    detector = with_check.appliance.status()["detector"]
    assert detector["echo_frames_withheld"] > 100  # the greetings' frames, some 5 s of them
    assert detector["echo_cancelled_db"] > 15.0  # the sim's line: 15 dB down, one frame late
    assert detector["echo_delay_ms"] == 20.0
    assert detector["echo_path_changes"] == 0  # the sim's line keeps its echo path


def test_a_config_change_keeps_the_learned_echo_path_unless_the_echo_settings_change(tmp_path: Path) -> None:
    result = _greeting_call({"calibration_enabled": False}, tmp_path)
    appliance = result.appliance
    learned = appliance.line.echo
    before = appliance.status()["detector"]
    assert before["echo_cancelled_db"] > 15.0
    config = appliance.config
    appliance.apply_config(config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"port": 1884})}))
    appliance.inject_block("01012345678")  # a staff code blocks the caller: a config change mid-call
    assert appliance.line.echo is learned
    kept = appliance.status()["detector"]
    assert {k: kept[k] for k in before if k.startswith("echo_")} == {
        k: v for k, v in before.items() if k.startswith("echo_")
    }
    detection = appliance.config.detection.model_copy(update={"echo_canceller_ms": 80.0})
    appliance.apply_config(appliance.config.model_copy(update={"detection": detection}))
    assert appliance.line.echo is not learned
    assert appliance.status()["detector"]["echo_cancelled_db"] is None  # built afresh for the new settings


def test_a_caller_who_swears_after_the_greeting_is_still_warned(tmp_path: Path) -> None:
    result = _greeting_call({"calibration_enabled": False}, tmp_path, caller="씨발, 일 똑바로 안 해?")
    assert ("warning", "ssibal") in _abuse(result)


def test_a_callers_keys_echoed_by_the_desk_phone_are_not_taken_for_a_staff_code(tmp_path: Path) -> None:
    # The caller keys *9# (the staff's cut code) on their own phone; the box plays it to the desk phone, whose
    # line circuit sends it back on the phone leg 15 dB down, where the staff-code detector listens.
    keys = tmp_path / "keys.wav"
    sf.write(keys, dtmf_digits("*9#", on_ms=120, off_ms=120, level_dbm0=-15.0), 8000, subtype="PCM_16")
    steps = [{"at": 2.0, "wav": str(keys)}, {"at": 8.0, "hangup": "caller"}]
    scenario = Scenario(
        name="keys", calls=[CallScript.model_validate({"number": "01012345678", "steps": steps})]
    )

    def outcome(loss_db: float, data_dir: Path) -> list[tuple[str, str | None]]:
        config = scenario_config(scenario)
        config = config.model_copy(
            update={"dsp": config.dsp.model_copy(update={"staff_code_echo_loss_db": loss_db})}
        )
        result = run_scenario(scenario, config, data_dir)
        return [(c["outcome"], c["basis"]) for c in result.calls]

    # Unchecked, the box acts on the caller's keys in the staff's name (a warning here: a cut before any
    # warning plays the warning first), and the call record says so.
    assert outcome(0.0, tmp_path / "off") == [("warned", "staff.request")], "the echo no longer reaches it"
    assert outcome(6.0, tmp_path / "on") == [("completed", None)]
