"""The second-stage verifier: checksum-pinned like the model, asked only above the candidate score, fused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.cli import read_recording
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.model import KwsModel, default_model_path, sha256_of
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "kws"


def _with_verifier(tmp_path: Path, candidate: float = 0.1, weight: float = 0.5) -> Path:
    """A copy of the shipped model whose verifier is a second copy of the keyword model (64 frames)."""
    src = default_model_path()
    dst = tmp_path / "kws.tflite"
    shutil.copy(src, dst)
    shutil.copy(src, tmp_path / "second.tflite")
    meta = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    meta["verifier"] = {
        "file": "second.tflite",
        "sha256": sha256_of(src),
        "window_frames": 64,
        "candidate": candidate,
        "weight": weight,
        "output": meta.get("output", "posteriors"),
    }
    dst.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


def _positive() -> np.ndarray:
    expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    name = next(n for n, e in expected.items() if e is not None)
    return read_recording(FIXTURES / name)


def _parts(detector: AbuseDetector, pcm: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray | None]]:
    detector.reset()
    detector.trace, detector.trace_parts = [], []
    for i in range(0, pcm.size - 160, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    parts = detector.trace_parts
    assert len(parts) == len(detector.trace) > 0
    return parts


def test_the_verifier_is_asked_only_above_the_candidate_score_and_scores_are_fused(tmp_path: Path) -> None:
    path = _with_verifier(tmp_path, candidate=0.1, weight=0.3)
    config = DetectionConfig(model_path=path, inline=True, shouting_enabled=False, calibration_enabled=False)
    detector, error = load_detector(config)
    assert detector is not None, error
    parts = _parts(detector, _positive())
    asked = [(s1, v) for _t, s1, v in parts if v is not None]
    assert asked and len(asked) == detector.verifications < len(parts)
    assert detector.health()["verifications"] == detector.verifications
    trace = detector.trace
    assert trace is not None
    for (_t, s1, v), (_t2, fused) in zip(parts, trace, strict=True):
        if v is None:
            assert float(s1[1:].max()) < 0.1 and not fused[1:].any()
        else:
            assert float(s1[1:].max()) >= 0.1
            np.testing.assert_allclose(fused[1:], s1[1:] ** 0.7 * v[1:] ** 0.3, rtol=1e-5)
    # The verifier here is the keyword model itself: on the hops it was asked, it saw the same window.
    model = KwsModel(path)
    assert model.verifier is not None and model.verifier.window_frames == 64


def test_no_verifier_means_stage_one_scores_unchanged(tmp_path: Path) -> None:
    config = DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
    detector, _error = load_detector(config)
    assert detector is not None
    if detector.model.verifier is not None:
        pytest.skip("the shipped model has a verifier; covered above")
    parts = _parts(detector, _positive())
    assert all(v is None for _t, _s, v in parts) and detector.verifications == 0


@pytest.mark.parametrize(
    ("damage", "said"),
    [("missing", "missing"), ("flipped", "corrupt"), ("frames", "unreadable"), ("path", "plain file name")],
)
def test_a_damaged_verifier_is_safe_mode(tmp_path: Path, damage: str, said: str) -> None:
    path = _with_verifier(tmp_path)
    second = tmp_path / "second.tflite"
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if damage == "missing":
        second.unlink()
    elif damage == "flipped":
        blob = bytearray(second.read_bytes())
        blob[len(blob) // 3] ^= 0x10
        second.write_bytes(bytes(blob))
    elif damage == "frames":
        meta["verifier"]["window_frames"] = 10
    else:
        meta["verifier"]["file"] = "../kws.tflite"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None
    assert error is not None and "safe mode" in error and said in error


def test_a_verifier_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    path = _with_verifier(tmp_path)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["verifier"]["window_frames"] = 100  # the file sees 64 frames
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None and error is not None and "shapes" in error
