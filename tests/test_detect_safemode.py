"""A missing, corrupt or unpinned model puts detection in safe mode with one clear reason, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edge.detect.detector import load_detector
from edge.detect.model import default_model_path, sha256_of
from edge.detect.settings import DetectionConfig


def _copy_model(tmp_path: Path) -> Path:
    src = default_model_path()
    dst = tmp_path / "kws.tflite"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_missing_model(tmp_path: Path) -> None:
    detector, error = load_detector(DetectionConfig(model_path=tmp_path / "nope.tflite"))
    assert detector is None
    assert error is not None and "safe mode" in error and "missing" in error


def test_flipped_byte_fails_the_checksum(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x55
    path.write_bytes(bytes(blob))
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None
    assert error is not None and "corrupt" in error


def test_garbage_with_a_matching_checksum_cannot_load(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    path.write_bytes(b"not a flatbuffer at all" * 100)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    meta["sha256"] = sha256_of(path)
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None
    assert error is not None and "cannot be loaded" in error


def test_broken_metadata_and_pin_mismatch(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    good = DetectionConfig(model_path=path, inline=True)
    detector, error = load_detector(good)
    assert detector is not None and error is None
    assert detector.health()["model"]["sha256"] == sha256_of(path)
    detector, error = load_detector(good.model_copy(update={"model_sha256": "0" * 64}))
    assert detector is None and error is not None and "pinned" in error
    path.with_suffix(".json").write_text("{ not json", encoding="utf-8")
    detector, error = load_detector(good)
    assert detector is None and error is not None and "unreadable" in error


def test_unknown_threshold_key_is_reported() -> None:
    detector, error = load_detector(DetectionConfig(warn_thresholds={"nonsense": 0.9}))
    assert detector is None and error is not None and "nonsense" in error


def test_unknown_model_output_kind_is_refused(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    meta["output"] = "probabilities-maybe"
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None
    assert error is not None and "probabilities-maybe" in error and "safe mode" in error
