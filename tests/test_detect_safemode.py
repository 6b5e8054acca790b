"""A missing, corrupt or unpinned model puts detection in safe mode with one clear reason, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from edge.cli import read_recording
from edge.core.events import Tier
from edge.detect.cli import scan
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.model import KwsModel, default_model_path, sha256_of
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "kws"


def _copy_model(tmp_path: Path) -> Path:
    src = default_model_path()
    dst = tmp_path / "kws.tflite"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    verifier = src.with_name("kws_verifier.tflite")
    if verifier.exists():
        shutil.copy(verifier, tmp_path / verifier.name)
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


@pytest.mark.parametrize("band", [[3400, 300], [300], "telephone", [300, 5000]])
def test_a_front_end_band_that_cannot_be_built_is_safe_mode(tmp_path: Path, band: object) -> None:
    path = _copy_model(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    meta["front_end"]["band_hz"] = band
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    detector, error = load_detector(DetectionConfig(model_path=path))
    assert detector is None
    assert error is not None and "band" in error and "safe mode" in error


def _positive_fixture() -> tuple[np.ndarray, dict[str, object]]:
    expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    name, meta = next((n, e) for n, e in expected.items() if e is not None)
    return read_recording(FIXTURES / name), meta


def test_a_model_file_overwritten_in_place_does_not_touch_the_running_detector(tmp_path: Path) -> None:
    """The soak's crash: the shipped model was rewritten (same inode) under a running interpreter."""
    path = _copy_model(tmp_path)
    detector, error = load_detector(DetectionConfig(model_path=path, inline=True, shouting_enabled=False))
    assert detector is not None, error
    pcm, meta = _positive_fixture()
    before = scan(detector, pcm, Tier.WARN)
    with open(path, "r+b") as f:  # same file, new bytes, as write_bytes() over it does
        f.write(b"\0" * path.stat().st_size)
    after = scan(detector, pcm, Tier.WARN)
    assert before and after == before and after[0]["keyword"] == meta["keyword"]
    assert detector.failure is None


class _FailingModel:
    """A loaded model whose interpreter starts failing after a few inferences (as a broken runtime does)."""

    def __init__(self, model: KwsModel, good: int) -> None:
        self.info = model.info
        self.path = model.path
        self.verifier = model.verifier
        self._model = model
        self._left = good

    def predict(self, window: np.ndarray) -> np.ndarray:
        if self._left <= 0:
            raise RuntimeError("tensor data is corrupted")
        self._left -= 1
        return self._model.predict(window)

    def verify(self, window: np.ndarray) -> np.ndarray:
        if self._left <= 0:
            raise RuntimeError("tensor data is corrupted")
        self._left -= 1
        return self._model.verify(window)


@pytest.mark.parametrize("inline", [True, False])
def test_an_interpreter_error_while_running_is_safe_mode_not_a_crash(inline: bool) -> None:
    config = DetectionConfig(inline=inline, shouting_enabled=False, calibration_enabled=False)
    model = KwsModel(default_model_path())
    detector = AbuseDetector(config, cast(KwsModel, _FailingModel(model, good=0)))
    pcm, _meta = _positive_fixture()
    detector.reset()
    for i in range(0, pcm.size - 160, 160):
        detector.feed(pcm[i : i + 160], i / 8000)  # never raises on the audio side
    detector.end_call(staff_acted=False, caller_speech_s=1.0)
    assert detector.wait_idle()
    assert detector.failure is not None and "RuntimeError" in detector.failure
    assert "safe mode" in detector.failure
    assert detector.inferences == 0 and detector.poll() == []
    assert detector.health()["failure"] == detector.failure
    # The worker thread is still alive and still takes audio after the failure.
    detector.feed(pcm[:1600], 99.0)
    detector.end_call(staff_acted=False, caller_speech_s=0.2)
    assert detector.wait_idle()
    detector.close()


def test_the_appliance_raises_one_alarm_and_the_call_goes_on_when_the_model_fails_mid_call(
    tmp_path: Path,
) -> None:
    from edge.app import build_appliance
    from edge.backends.sim.world import SimWorld
    from edge.config import default_config
    from edge.ports import FRAME_SECONDS
    from edge.scenarios import load_scenario, shipped_scenarios
    from edge.simulate import SimClock

    path = next(p for p in shipped_scenarios() if p.stem == "07_abusive_caller")
    scenario = load_scenario(path)
    config = default_config()
    world = SimWorld(scenario, scenario.start or config.sim.start, cache_dir=tmp_path / "cache")
    world.prepare_audio()
    app = build_appliance(config, tmp_path, world.hardware, SimClock(world), threaded=False)
    detector = cast(AbuseDetector, app.detector)
    # Fault injection: the loaded model's interpreter fails once the call is bridged.
    detector.model = cast(KwsModel, _FailingModel(detector.model, good=0))
    try:
        app.start()
        t = 0.0
        while t < world.last_call_start + 150.0:
            world.advance(t)
            app.pump(world.hardware.audio.read(0.0))
            t += FRAME_SECONDS
        app.writer.close()
        calls = app.store.calls_by_id(app.call_ids)
        kinds = [r.data.get("alarm") for r in app.alarms]
        status = app.status()
    finally:
        app.close()
    assert kinds.count("detector_safe_mode") == 1
    assert "safe mode" in str(status["detector"]["failure"])
    # The abusive caller is no longer warned or cut, but the call itself runs to the caller's hang-up.
    assert [c["outcome"] for c in calls] == ["completed"], calls
