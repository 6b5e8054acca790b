"""Staff-flagged clips: a staff warning or cut that no detection preceded keeps the caller audio before it,
sealed; centrally it is exported to unlabelled/, a person labels where the word ends, and training reads the
labelled positive. Also: a call that is not recorded keeps no clip."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from edge.config import Config
from edge.detect.clips import LABELLED_AFTER_S, UNLABELLED, missed_word_hint, source_clips
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.record.seal import generate_keypair
from edge.scenarios import load_scenario, scenario_config, shipped_scenarios
from edge.simulate import run_scenario
from tests.test_detect_clips import EXPECTED, FIXTURES, KeptClips, cli, fixture_of

ROOT = Path(__file__).resolve().parents[1]
ORDINARY = sf.read(FIXTURES / "ordinary.wav", dtype="int16")[0]
SWEAR = fixture_of("profanity")
NOTHING_FIRES = {"profanity": 1.0, "threat": 1.0, "sexual": 1.0}
"""Thresholds no score reaches: the shipped model then misses every word, as it misses some real ones."""


def detector_with(sink: KeptClips, **settings: Any) -> AbuseDetector:
    base: dict[str, Any] = {"shouting_enabled": False, "calibration_enabled": False}
    detector, error = load_detector(DetectionConfig(**{**base, **settings}), sink)
    assert detector is not None, error
    return detector


def speech(seconds: float, seed: int) -> np.ndarray:
    """Ordinary speech and quiet noise, ``seconds`` long, different for each seed."""
    rng = np.random.default_rng(seed)
    out = np.resize(ORDINARY, round(seconds * 8000)).astype(np.int16)
    return (out + rng.integers(-30, 30, out.size)).astype(np.int16)


@pytest.fixture
def sink(tmp_path: Path) -> KeptClips:
    return KeptClips(tmp_path / "data", str(generate_keypair(tmp_path / "central").public_path))


def feed_frames(detector: AbuseDetector, pcm: np.ndarray, t0: float) -> None:
    for i in range(0, pcm.size - 159, 160):
        detector.feed(pcm[i : i + 160], t0 + i / 8000)


def test_a_staff_action_with_nothing_detected_keeps_the_audio_before_it(sink: KeptClips) -> None:
    # The worker thread, as on the box: the clip must hold exactly the audio fed before the action, not
    # the audio fed after it that the worker had not reached yet.
    detector = detector_with(sink, staff_clip_s=8.0, queue_frames=5000)  # fed faster than real time
    try:
        detector.reset()
        before, after = speech(11.0, 1), speech(3.0, 2)
        feed_frames(detector, before, 0.0)
        detector.staff_acted(11.0, "warning")
        feed_frames(detector, after, 11.0)
        detector.end_call(staff_acted=True)
        assert detector.wait_idle()
        assert not any(d.event.source == "model" for d in detector.detections)
        health = detector.health()["clips"]
    finally:
        detector.close()
    [(clip, meta)] = sink.plain
    assert np.array_equal(clip, before[-8 * 8000 :]), "the 8 s before the action, sample for sample"
    # Line noise with no speech in it, or no WAV at all, gives the person labelling it no hint.
    hinter = detector_with(sink, inline=True)
    buffer = io.BytesIO()
    noise = np.random.default_rng(9).integers(-40, 40, 8 * 8000).astype(np.int16)
    sf.write(buffer, noise, 8000, format="WAV", subtype="PCM_16")
    assert missed_word_hint(hinter, buffer.getvalue()) is None
    assert missed_word_hint(hinter, b"not a wav") is None
    assert meta["source"] == "staff" and meta["action"] == "warning" and meta["label"] == "confirmed"
    assert meta["keyword"] is None and meta["t"] == 11.0
    assert health["staff_flagged"] == 1 and health["confirmed"] == 1 and health["stored"] == 1
    [stored] = source_clips(sink.directory)
    assert stored.training_folder()[0] == UNLABELLED


def test_a_staff_action_that_confirms_a_detection_keeps_no_staff_clip(sink: KeptClips) -> None:
    detector = detector_with(sink, inline=True)
    detector.reset()
    swear = sf.read(FIXTURES / SWEAR, dtype="int16")[0]
    feed_frames(detector, np.concatenate([swear, np.zeros(12000, np.int16)]), 0.0)
    assert any(d.event.source == "model" for d in detector.detections)
    detector.staff_acted(2.0, "warning")
    detector.staff_acted(9.0, "cut")  # the cut after the warning's prompt: inside the window, adds nothing
    detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
    assert sink.plain and all(m["source"] == "model" for _, m in sink.plain)

    # Nothing detected, but two actions 5 s apart: one clip; with staff_clip_s 0, none.
    for window, kept in ((8.0, 1), (0.0, 0)):
        sink.plain.clear()
        detector = detector_with(sink, inline=True, staff_clip_s=window)
        detector.reset()
        feed_frames(detector, speech(10.0, 3), 0.0)
        detector.staff_acted(10.0, "warning")
        feed_frames(detector, speech(5.0, 4), 10.0)
        detector.staff_acted(15.0, "cut")
        detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
        assert [m["action"] for _, m in sink.plain] == ["warning"] * kept


def test_the_clips_of_a_call_that_was_not_recorded_are_not_kept(sink: KeptClips) -> None:
    detector = detector_with(sink, inline=True)
    detector.reset()
    swear = sf.read(FIXTURES / SWEAR, dtype="int16")[0]
    feed_frames(detector, np.concatenate([swear, np.zeros(12000, np.int16)]), 0.0)
    detector.staff_acted(20.0, "cut")
    detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s, keep_clips=False)
    assert detector.detections and not sink.plain and sink.stored() == 0
    assert detector.health()["clips"]["not_recorded"] >= 2  # the alert's clip and the staff-flagged one


def test_a_missed_word_is_labelled_centrally_and_becomes_a_positive_the_model_hears(
    sink: KeptClips, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The model misses the word (no threshold can be reached); staff warn 1.5 s after it.
    swear = sf.read(FIXTURES / SWEAR, dtype="int16")[0]
    lead = speech(8.0, 5)
    call = np.concatenate([lead, swear, np.zeros(12000 + 160, np.int16)])
    word_end = lead.size / 8000 + EXPECTED[SWEAR]["keyword_end_s"]
    act = round((word_end + 1.5) * 8000) // 160 * 160
    detector = detector_with(sink, inline=True, warn_thresholds=NOTHING_FIRES, alert_thresholds=NOTHING_FIRES)
    detector.reset()
    feed_frames(detector, call[:act], 0.0)
    detector.staff_acted(act / 8000, "warning")
    feed_frames(detector, call[act:], act / 8000)
    detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
    assert not detector.detections
    data = sink.directory.parent
    key = tmp_path / "central" / "central.key"

    code, listed, _ = cli(["clips", "list", "--data-dir", str(data), "--json"], capsys)
    assert code == 0 and listed["by_training_folder"] == {UNLABELLED: 1}
    code, text_out, _ = cli(["clips", "list", "--data-dir", str(data)], capsys)
    assert code == 0 and "waiting for a person's labels (unlabelled/): 1" in text_out
    out = tmp_path / "train"
    code, exported, _ = cli(
        ["clips", "export", "--data-dir", str(data), "--key", str(key), "--out", str(out), "--json"], capsys
    )
    assert code == 0 and exported["written"] == {UNLABELLED: 1}
    [wav] = (out / UNLABELLED).glob("*.wav")
    clip = sf.read(wav, dtype="int16")[0]
    assert np.array_equal(clip, call[act - 8 * 8000 : act])

    # The export guesses where the missed word is, from the installed model's scores below the thresholds.
    end_in_clip = word_end - (act / 8000 - 8.0)
    hint = exported["hints"][f"{UNLABELLED}/{wav.name}"]
    assert hint["keyword"] == "ssibal" and abs(hint["end_s"] - end_in_clip) <= 0.3, hint
    index = [json.loads(line) for line in (out / "clips.jsonl").read_text(encoding="utf-8").splitlines()]
    assert index[-1]["hint"] == hint
    # A person hears 씨발 end at this point of the clip and labels it.
    args = ["clips", "label", str(wav), "--keyword", "ssibal", "--end", f"{end_in_clip:.3f}", "--json"]
    code, labelled, _ = cli(args, capsys)
    assert code == 0 and len(labelled["written"]) == 1 and labelled["out"] == str(out)
    positive = out / labelled["written"][0]
    assert positive.parent.name == "ssibal"
    stop = round(round(end_in_clip, 3) * 8000)
    after = round(LABELLED_AFTER_S * 8000)
    assert np.array_equal(sf.read(positive, dtype="int16")[0], clip[stop - 16000 : stop + after])
    record = json.loads((out / "clips.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert record["keyword"] == "ssibal" and record["from"] == wav.name and record["labelled_by"]
    code, again, _ = cli(args, capsys)
    assert code == 0 and again["written"] == [] and again["already_labelled"] == 1

    # The positive ends LABELLED_AFTER_S after the word, as training reads a positive: the fixture's word
    # and what followed it.
    said = round(EXPECTED[SWEAR]["keyword_end_s"] * 8000) + after
    assert np.array_equal(sf.read(positive, dtype="int16")[0][-said:], swear[:said])

    # Training reads the labelled positive and skips what still waits for a label.
    sys.path.insert(0, str(ROOT / "models"))
    from pipeline import build, text

    groups, _ = text.load_keywords()
    clips = build.load_extra(out, groups)
    assert [label for _, label in clips] == [1 + [g.id for g in groups].index("ssibal")]
    assert "wait for labels" in capsys.readouterr().err
    assert build.load_extra(data, groups, key) == [], "sealed: a staff-flagged clip is not trained on"
    assert "label its words first" in capsys.readouterr().err


def test_labelling_refuses_what_it_cannot_place(
    sink: KeptClips, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "train" / UNLABELLED
    out.mkdir(parents=True)
    wav = out / "20261206T000000000000-clip.wav"
    sf.write(wav, speech(8.0, 6), 8000, subtype="PCM_16")
    for args, says in (
        (["--keyword", "Not A Group", "--end", "3"], "is not a keyword group id"),
        (["--keyword", "ssibal", "--end", "9.5"], "outside"),
        (["--keyword", "ssibal", "--end", "0"], "outside"),
    ):
        code, _, err = cli(["clips", "label", str(wav), *args], capsys)
        assert code != 0 and says in err and "Traceback" not in err
    assert not (tmp_path / "train" / "ssibal").exists()
    code, _, err = cli(
        ["clips", "label", str(out / "missing.wav"), "--keyword", "ssibal", "--end", "3"], capsys
    )
    assert code != 0 and "does not exist" in err
    elsewhere = tmp_path / "loose.wav"
    elsewhere.write_bytes(wav.read_bytes())
    code, _, err = cli(["clips", "label", str(elsewhere), "--keyword", "ssibal", "--end", "3"], capsys)
    assert code != 0 and "--out" in err
    (tmp_path / "garbage.wav").write_bytes(b"RIFF" + b"\x00" * 40)
    args = ["clips", "label", str(tmp_path / "garbage.wav"), "--keyword", "ssibal", "--end", "1"]
    code, _, err = cli([*args, "--out", str(tmp_path / "train")], capsys)
    assert code != 0 and "cannot label" in err


def scenario_with_key(tmp_path: Path, stem: str, no_record: bool) -> tuple[Any, Config]:
    scenario = load_scenario(next(p for p in shipped_scenarios() if p.stem == stem))
    config = scenario_config(scenario)
    public = generate_keypair(tmp_path / "keys").public_path
    number = scenario.calls[0].number
    recording = config.recording.model_copy(
        update={"public_key": str(public), "no_record": [number] if no_record else []}
    )
    return scenario, config.model_copy(update={"recording": recording})


@pytest.mark.parametrize(
    ("stem", "no_record", "actions"),
    [
        ("05_staff_button_cut", False, ["warning"]),
        ("05_staff_button_cut", True, []),
        ("06_dtmf_cut", False, ["warning", "cut"]),
    ],
)
def test_staff_actions_on_missed_insults_keep_staff_flagged_clips(
    tmp_path: Path, stem: str, no_record: bool, actions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped scenarios: a caller berates staff in words no keyword covers. A long press (a warning,
    then the box's cut after its prompt) keeps one clip; *1#, then *9# 19 s later, two. A number on the
    no-record list keeps none."""
    scenario, config = scenario_with_key(tmp_path, stem, no_record)
    result = run_scenario(scenario, config, tmp_path / "data")
    assert [c["outcome"] for c in result.calls] == ["cut"]
    clips = source_clips(tmp_path / "data")
    assert [(c.label or {}).get("action") for c in clips] == actions
    for clip in clips:
        assert (
            clip.label is not None and clip.label["source"] == "staff" and clip.label["label"] == "confirmed"
        )
        assert clip.training_folder()[0] == UNLABELLED and clip.stem.endswith("-staff")
    if stem.startswith("05") and not no_record:
        # "당신들 일을 이따위로 해서 되겠어? 책임자 바꿔!" holds no keyword: the export suggests none (the best
        # keyword score stays under HINT_MIN_SCORE), it only waits for a person.
        key = tmp_path / "keys" / "central.key"
        args = ["clips", "export", "--data-dir", str(tmp_path / "data"), "--key", str(key), "--json"]
        code, exported, _ = cli([*args, "--out", str(tmp_path / "out")], capsys)
        assert code == 0 and exported["written"] == {UNLABELLED: 1} and exported["hints"] == {}
