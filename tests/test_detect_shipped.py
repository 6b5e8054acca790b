"""The shipped int8 model, through the real streaming detector and the CLI, on stored fixture WAVs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect import model as model_module
from edge.detect.cli import scan
from edge.detect.detector import load_detector
from edge.detect.model import default_model_path, sha256_of
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "kws"
EXPECTED: dict[str, dict[str, object] | None] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8")
)


def test_shipped_model_matches_its_checksum_and_size() -> None:
    path = default_model_path()
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sha256_of(path) == meta["sha256"]
    assert 50_000 <= path.stat().st_size <= 500_000
    for tier in ("alert", "warn"):
        for cls in meta["classes"]:
            assert 0.0 < meta["thresholds"][tier][cls["id"]] <= 1.0
    assert all(
        meta["thresholds"]["warn"][c["id"]] >= meta["thresholds"]["alert"][c["id"]] for c in meta["classes"]
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_detections(name: str) -> None:
    detector, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert detector is not None, error
    pcm = read_recording(FIXTURES / name)
    warn = scan(detector, pcm, Tier.WARN)
    expected = EXPECTED[name]
    if expected is None:
        assert scan(detector, pcm, Tier.ALERT) == [], f"{name} is ordinary speech yet fired"
        return
    assert warn, f"{name}: the {expected['keyword']} keyword was not detected at the warning tier"
    first = warn[0]
    assert first["category"] == expected["category"]
    # Detected within half a second of the keyword's end (the latency target), not before it started.
    latency = first["end_s"] - float(str(expected["keyword_end_s"]))
    assert -0.3 <= latency <= 0.5, latency
    events = [e for e in detector.poll() if e.tier is Tier.WARN]
    assert events and events[0].source == "model" and str(events[0].category) == expected["category"]


def test_cli_json_and_resampled_input(tmp_path: Path) -> None:
    name = next(n for n, e in EXPECTED.items() if e is not None)
    pcm, rate = sf.read(FIXTURES / name, dtype="int16")
    assert rate == 8000
    # The same recording at 16 kHz must give the same keyword (any sample rate is accepted).
    up = np.repeat(pcm, 2).astype(np.int16)
    wav16 = tmp_path / "up16k.wav"
    sf.write(wav16, up, 16000, subtype="PCM_16")
    for path in (FIXTURES / name, wav16):
        out = subprocess.run(
            [sys.executable, "-m", "edge", "kws", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert abs(report["audio_s"] - len(pcm) / 8000) < 0.01
        # The speech in it, for rates per hour of speech: the word and its carrier, not the silence around.
        assert 0.3 < report["speech_s"] < report["audio_s"]
        expected = EXPECTED[name]
        assert expected is not None
        assert [d["keyword"] for d in report["detections"]][:1] == [expected["keyword"]]
        d = report["detections"][0]
        assert set(d) >= {"keyword", "category", "start_s", "end_s", "score"}
        assert 0 <= d["start_s"] < d["end_s"] <= report["audio_s"] + 0.6


def test_cli_scores_keep_the_decimals_that_tell_them_from_their_thresholds() -> None:
    # Thresholds sit at 0.99-0.9999: a score rounded to 3 or 4 decimals reads 1.0, or falls below the
    # threshold it crossed, and an auditor comparing the two could not tell a near miss from a sure hit.
    meta = json.loads(default_model_path().with_suffix(".json").read_text(encoding="utf-8"))
    seen = 0
    for name, expected in EXPECTED.items():
        if expected is None:
            continue
        out = _kws_json(str(FIXTURES / name), "--tier", "alert")
        assert out.returncode == 0, out.stderr
        for d in json.loads(out.stdout)["detections"]:
            assert d["score"] >= meta["thresholds"][d["tier"]][d["keyword"]], d
            assert d["score"] < 1.0, d  # a softmax over 12 classes never reaches 1 exactly
            seen += 1
    assert seen >= 3


def test_cli_leaves_stderr_empty_when_all_is_well() -> None:
    out = _kws_json(str(FIXTURES / "ordinary.wav"))
    assert out.returncode == 0 and json.loads(out.stdout)["detections"] == []
    assert out.stderr == ""  # the runtime's INFO banner is held back


def test_loading_a_graph_passes_on_what_else_reaches_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with model_module._without_runtime_banner():
        os.write(2, b"another thread's line\n")
        os.write(2, model_module._RUNTIME_BANNER)
    assert capfd.readouterr().err == "another thread's line\n"


def _kws_json(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "kws", *argv, "--json"], capture_output=True, text=True, timeout=60
    )


def test_cli_reads_one_channel_of_a_stereo_flac_at_another_rate(tmp_path: Path) -> None:
    name = next(n for n, e in EXPECTED.items() if e is not None)
    expected = EXPECTED[name]
    assert expected is not None
    pcm, _ = sf.read(FIXTURES / name, dtype="float64")
    keyword = resample_poly(pcm, 441, 80)  # 8 kHz -> 44.1 kHz
    stereo = tmp_path / "call.flac"
    sf.write(stereo, np.stack([np.zeros_like(keyword), keyword], axis=1), 44100, subtype="PCM_24")

    refused = _kws_json(str(stereo))
    assert refused.returncode == 2
    assert "--channel" in refused.stderr and "Traceback" not in refused.stderr
    silent = _kws_json(str(stereo), "--channel", "1")
    assert silent.returncode == 0, silent.stderr
    assert json.loads(silent.stdout)["detections"] == []
    heard = _kws_json(str(stereo), "--channel", "2")
    assert heard.returncode == 0, heard.stderr
    report = json.loads(heard.stdout)
    assert abs(report["audio_s"] - len(pcm) / 8000) < 0.01
    assert [d["keyword"] for d in report["detections"]][:1] == [expected["keyword"]]


def test_cli_names_a_missing_file_in_one_sentence(tmp_path: Path) -> None:
    out = _kws_json(str(tmp_path / "nowhere.wav"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_feeding_in_blocks_of_any_size_detects_what_the_whole_does() -> None:
    detector, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert detector is not None, error
    pcm = np.concatenate([read_recording(FIXTURES / n) for n in sorted(EXPECTED)])
    whole = scan(detector, pcm, Tier.ALERT)
    assert whole
    cuts = np.sort(np.random.default_rng(5).integers(0, pcm.size, size=40))
    assert scan(detector, np.split(pcm, cuts), Tier.ALERT) == whole


def test_scores_are_a_distribution_resolved_beyond_the_int8_step() -> None:
    """The shipped model ends in logits; the softmax in float must give posteriors finer than 1/256."""
    detector, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert detector is not None, error
    assert detector.model.info.logits
    name = next(n for n, e in EXPECTED.items() if e is not None)
    pcm = read_recording(FIXTURES / name)
    detector.trace = []
    for i in range(0, pcm.size - 160, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    scores = np.array([s for _, s in detector.trace])
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-4) and (scores >= 0).all()
    # An int8 softmax output moves in steps of 1/256 (1/512 after averaging two hops); float softmax
    # of int8 logits does not, which is what lets thresholds sit between 0.996 and 1.
    off_grid = np.abs(scores * 512 - np.round(scores * 512))
    assert off_grid.max() > 0.05, off_grid.max()
