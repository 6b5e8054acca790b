"""The shipped int8 model, through the real streaming detector and the CLI, on stored fixture WAVs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.core.events import Tier
from edge.detect.cli import read_wav, scan
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
    pcm = read_wav(FIXTURES / name)
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
        expected = EXPECTED[name]
        assert expected is not None
        assert [d["keyword"] for d in report["detections"]][:1] == [expected["keyword"]]
        d = report["detections"][0]
        assert set(d) >= {"keyword", "category", "start_s", "end_s", "score"}
        assert 0 <= d["start_s"] < d["end_s"] <= report["audio_s"] + 0.6


def test_cli_rejects_stereo_with_one_sentence(tmp_path: Path) -> None:
    wav = tmp_path / "stereo.wav"
    sf.write(wav, np.zeros((800, 2), dtype=np.int16), 8000, subtype="PCM_16")
    out = subprocess.run(
        [sys.executable, "-m", "edge", "kws", str(wav), "--json"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "mono 16-bit" in out.stderr and "Traceback" not in out.stderr


def test_scores_are_a_distribution_resolved_beyond_the_int8_step() -> None:
    """The shipped model ends in logits; the softmax in float must give posteriors finer than 1/256."""
    detector, error = load_detector(
        DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    )
    assert detector is not None, error
    assert detector.model.info.logits
    name = next(n for n, e in EXPECTED.items() if e is not None)
    pcm = read_wav(FIXTURES / name)
    detector.trace = []
    for i in range(0, pcm.size - 160, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    scores = np.array([s for _, s in detector.trace])
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-4) and (scores >= 0).all()
    # An int8 softmax output moves in steps of 1/256 (1/512 after averaging two hops); float softmax
    # of int8 logits does not, which is what lets thresholds sit between 0.996 and 1.
    off_grid = np.abs(scores * 512 - np.round(scores * 512))
    assert off_grid.max() > 0.05, off_grid.max()
