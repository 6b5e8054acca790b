"""The int8 keyword-spotting model on ai-edge-litert: checksum-verified loading and one-window inference."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detect.features import N_MELS, WINDOW_FRAMES

SHIPPED_NAME = "kws.tflite"


class ModelError(Exception):
    """The model cannot be used: missing, corrupt, checksum mismatch or wrong shape."""


@dataclass(frozen=True)
class KeywordClass:
    """One model output: a keyword group and the category it escalates."""

    id: str
    category: str
    typical_s: float
    """Median spoken length, used to place a detection's start."""


@dataclass(frozen=True)
class ModelInfo:
    """What the metadata JSON beside the model says."""

    version: str
    sha256: str
    classes: tuple[KeywordClass, ...]
    alert: dict[str, float]
    warn: dict[str, float]
    raw: dict[str, Any]
    logits: bool = False
    """The model ends in logits (the softmax is applied here in float, where int8 would saturate)."""


def default_model_path() -> Path:
    """The shipped model: an installed copy in the package, else the repository's models/ folder."""
    here = Path(__file__).resolve()
    installed = here.parent.parent / "models" / SHIPPED_NAME
    return installed if installed.exists() else here.parents[2] / "models" / SHIPPED_NAME


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_info(path: Path) -> ModelInfo:
    """Parse <model>.json; raises ModelError with one clear sentence."""
    meta_path = path.with_suffix(".json")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
        classes = tuple(
            KeywordClass(str(c["id"]), str(c["category"]), float(c.get("typical_s", 0.8)))
            for c in raw["classes"]
        )
        thresholds = raw["thresholds"]
        alert = {str(k): float(v) for k, v in thresholds["alert"].items()}
        warn = {str(k): float(v) for k, v in thresholds["warn"].items()}
        output = raw.get("output", "posteriors")
        if output not in ("posteriors", "logits"):
            raise ValueError(f"output is {output!r}, not 'posteriors' or 'logits'")
        return ModelInfo(
            str(raw["version"]), str(raw["sha256"]), classes, alert, warn, raw, output == "logits"
        )
    except FileNotFoundError:
        raise ModelError(f"model metadata {meta_path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"model metadata {meta_path} is unreadable: {type(exc).__name__}: {exc}") from None


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter

            return Interpreter
        except ImportError:
            raise ModelError("neither ai-edge-litert nor tflite-runtime is installed") from None


class KwsModel:
    """A verified model ready to score (WINDOW_FRAMES, N_MELS) windows; one instance per thread."""

    def __init__(self, path: Path, pinned_sha256: str | None = None) -> None:
        if not path.exists():
            raise ModelError(f"model file {path} is missing")
        self.info = read_info(path)
        # The interpreter runs on these verified bytes, not on a mapping of the file: a model written over
        # the file while the box runs can neither change what was checked nor crash the running graph.
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"model file {path} cannot be read: {exc}") from None
        digest = hashlib.sha256(blob).hexdigest()
        if digest != self.info.sha256:
            raise ModelError(
                f"model file {path} is corrupt: sha256 {digest[:12]}… does not match its metadata"
            )
        if pinned_sha256 is not None and digest != pinned_sha256:
            raise ModelError(f"model file {path} is not the pinned model (sha256 {digest[:12]}…)")
        self.path = path
        try:
            self._blob = blob
            self._interpreter = _interpreter_class()(model_content=blob, num_threads=1)
            self._interpreter.allocate_tensors()
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime raises bare RuntimeError/ValueError on bad files
            raise ModelError(f"model file {path} cannot be loaded: {exc}") from None
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        if (
            tuple(inp["shape"][1:3]) != (WINDOW_FRAMES, N_MELS)
            or int(out["shape"][-1]) != len(self.info.classes) + 1
        ):
            raise ModelError(
                f"model file {path} has shapes {inp['shape']} -> {out['shape']}, not this front end's"
            )
        self._in_index = int(inp["index"])
        self._out_index = int(out["index"])
        self._in_scale, self._in_zero = (float(v) for v in inp["quantization"])
        self._out_scale, self._out_zero = (float(v) for v in out["quantization"])
        self._in_dtype = inp["dtype"]

    def predict(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class posteriors (background first) of one normalized window."""
        if self._in_scale:
            q = np.round(window / self._in_scale + self._in_zero)
            x = np.clip(q, -128, 127).astype(self._in_dtype)
        else:
            x = window.astype(self._in_dtype)
        self._interpreter.set_tensor(self._in_index, x.reshape(1, WINDOW_FRAMES, N_MELS, 1))
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._out_index)[0].astype(np.float32)
        if self._out_scale:
            y = (y - self._out_zero) * self._out_scale
        if self.info.logits:
            y = np.exp(y - y.max())
            y /= y.sum()
        out: npt.NDArray[np.float32] = y.astype(np.float32)
        return out
