"""The int8 keyword-spotting model on ai-edge-litert: checksum-verified loading and one-window inference."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detect.features import N_MELS, WINDOW_FRAMES, Band, checked_band

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
class VerifierInfo:
    """The optional second stage: a longer-context model that checks stage-1 candidates."""

    file: str
    """File name beside the keyword model."""
    sha256: str
    window_frames: int
    """Frames it sees (ending at the same moment as the keyword model's window)."""
    candidate: float
    """Stage-1 score (any keyword class) at or above which the verifier is asked."""
    weight: float
    """Fusion: score = stage1 ** (1 - weight) * verifier ** weight, per class."""
    logits: bool = True


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
    verifier: VerifierInfo | None = None
    band_hz: Band | None = None
    """The front end's band-pass (``front_end.band_hz``); None: the audio goes to the log-mel unfiltered."""
    speech_mean: tuple[float, ...] | None = None
    """Mean log-mel frame of voiced training speech (``front_end.speech_mean``), for the spectral balance;
    None: the model has none and the detector leaves the balance alone."""
    balance_prior_frames: int = 0
    """The spectral balance's prior that the thresholds were priced with (``front_end.balance_prior_frames``;
    0: priced without the balance), what the detector runs unless its config says otherwise."""
    balance_dead_zone: float = 0.0
    """The balance's dead zone the thresholds were priced with (``front_end.balance_dead_zone``; 0: none)."""


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
        output = _output_kind(raw)
        verifier = None
        if raw.get("verifier") is not None:
            v = raw["verifier"]
            verifier = VerifierInfo(
                str(v["file"]),
                str(v["sha256"]),
                int(v["window_frames"]),
                float(v["candidate"]),
                float(v["weight"]),
                _output_kind(v) == "logits",
            )
            if not (WINDOW_FRAMES <= verifier.window_frames <= 400):
                raise ValueError(
                    f"verifier window_frames {verifier.window_frames} is not {WINDOW_FRAMES}..400"
                )
            if not (0.0 <= verifier.candidate < 1.0 and 0.0 < verifier.weight <= 1.0):
                raise ValueError("verifier candidate must be in [0, 1) and weight in (0, 1]")
            if Path(verifier.file).name != verifier.file:
                raise ValueError(f"verifier file {verifier.file!r} is not a plain file name")
        front_end = raw.get("front_end") or {}
        band = front_end.get("band_hz")
        speech_mean = front_end.get("speech_mean")
        prior = front_end.get("balance_prior_frames", 0)
        if isinstance(prior, bool) or not isinstance(prior, int) or not 0 <= prior <= 100_000:
            raise ValueError(
                f"front_end.balance_prior_frames must be a whole number 0..100000, got {prior!r}"
            )
        if prior and speech_mean is None:
            raise ValueError("front_end.balance_prior_frames needs front_end.speech_mean, its reference")
        dead_zone = front_end.get("balance_dead_zone", 0.0)
        if isinstance(dead_zone, bool) or not isinstance(dead_zone, int | float) or not 0 <= dead_zone <= 20:
            raise ValueError(f"front_end.balance_dead_zone must be a number 0..20, got {dead_zone!r}")
        return ModelInfo(
            str(raw["version"]),
            str(raw["sha256"]),
            classes,
            alert,
            warn,
            raw,
            output == "logits",
            verifier,
            checked_band(band) if band is not None else None,
            _checked_speech_mean(speech_mean) if speech_mean is not None else None,
            prior,
            float(dead_zone),
        )
    except FileNotFoundError:
        raise ModelError(f"model metadata {meta_path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"model metadata {meta_path} is unreadable: {type(exc).__name__}: {exc}") from None


def _checked_speech_mean(value: Any) -> tuple[float, ...]:
    means = tuple(float(v) for v in value)
    if len(means) != N_MELS or not all(np.isfinite(means)):
        raise ValueError(f"front_end.speech_mean must be {N_MELS} finite numbers, got {len(means)}")
    return means


def _output_kind(raw: dict[str, Any]) -> str:
    output = str(raw.get("output", "posteriors"))
    if output not in ("posteriors", "logits"):
        raise ValueError(f"output is {output!r}, not 'posteriors' or 'logits'")
    return output


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


_RUNTIME_BANNER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"


@contextlib.contextmanager
def _without_runtime_banner() -> Iterator[None]:
    """Hold back the one INFO line the runtime's C++ writes to stderr per graph; pass anything else on.

    The banner is not an error, yet it lands on the stderr of every ``lineguard kws`` run and in the
    box's journal on every start. What else reaches file descriptor 2 meanwhile (another thread's log
    line) is written back after, a few milliseconds late, not lost.
    """
    with contextlib.ExitStack() as stack:
        try:
            held = stack.enter_context(tempfile.TemporaryFile())
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no scratch file, or no stderr: the banner is harmless, load anyway
            saved = -1
        if saved < 0:
            yield
            return
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = held.read().replace(_RUNTIME_BANNER, b"", 1)
            if rest:
                os.write(2, rest)


class _Graph:
    """One verified TFLite graph scoring (frames, N_MELS) windows into class posteriors."""

    def __init__(self, path: Path, sha256: str, frames: int, outputs: int, logits: bool) -> None:
        if not path.exists():
            raise ModelError(f"model file {path} is missing")
        # The interpreter runs on these verified bytes, not on a mapping of the file: a model written over
        # the file while the box runs can neither change what was checked nor crash the running graph.
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"model file {path} cannot be read: {exc}") from None
        digest = hashlib.sha256(blob).hexdigest()
        if digest != sha256:
            raise ModelError(
                f"model file {path} is corrupt: sha256 {digest[:12]}… does not match its metadata"
            )
        self.digest = digest
        try:
            self._blob = blob
            with _without_runtime_banner():
                self._interpreter = _interpreter_class()(model_content=blob, num_threads=1)
                self._interpreter.allocate_tensors()
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime raises bare RuntimeError/ValueError on bad files
            raise ModelError(f"model file {path} cannot be loaded: {exc}") from None
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        if tuple(inp["shape"][1:3]) != (frames, N_MELS) or int(out["shape"][-1]) != outputs:
            raise ModelError(
                f"model file {path} has shapes {inp['shape']} -> {out['shape']}, not this front end's"
            )
        self.frames = frames
        self._logits = logits
        self._in_index = int(inp["index"])
        self._out_index = int(out["index"])
        self._in_scale, self._in_zero = (float(v) for v in inp["quantization"])
        self._out_scale, self._out_zero = (float(v) for v in out["quantization"])
        self._in_dtype = inp["dtype"]

    def run(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class posteriors (background first) of one normalized window."""
        if self._in_scale:
            q = np.round(window / self._in_scale + self._in_zero)
            x = np.clip(q, -128, 127).astype(self._in_dtype)
        else:
            x = window.astype(self._in_dtype)
        self._interpreter.set_tensor(self._in_index, x.reshape(1, self.frames, N_MELS, 1))
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._out_index)[0].astype(np.float32)
        if self._out_scale:
            y = (y - self._out_zero) * self._out_scale
        if self._logits:
            y = np.exp(y - y.max())
            y /= y.sum()
        out: npt.NDArray[np.float32] = y.astype(np.float32)
        return out


class KwsModel:
    """A verified model (and its verifier, if the metadata names one); one instance per thread."""

    def __init__(self, path: Path, pinned_sha256: str | None = None) -> None:
        if not path.exists():
            raise ModelError(f"model file {path} is missing")
        self.info = read_info(path)
        outputs = len(self.info.classes) + 1
        self._stage1 = _Graph(path, self.info.sha256, WINDOW_FRAMES, outputs, self.info.logits)
        if pinned_sha256 is not None and self._stage1.digest != pinned_sha256:
            raise ModelError(
                f"model file {path} is not the pinned model (sha256 {self._stage1.digest[:12]}…)"
            )
        self.path = path
        self.verifier: VerifierInfo | None = self.info.verifier
        """The second stage's settings, or None when the model has none."""
        self._verifier: _Graph | None = None
        if self.verifier is not None:
            v = self.verifier
            # The metadata names both digests: a missing or altered verifier is the same safe mode as a
            # corrupt keyword model, never a box that silently runs one stage.
            self._verifier = _Graph(path.parent / v.file, v.sha256, v.window_frames, outputs, v.logits)

    def predict(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class posteriors (background first) of one normalized (WINDOW_FRAMES, N_MELS) window."""
        return self._stage1.run(window)

    def verify(self, window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The verifier's class posteriors of one normalized (verifier.window_frames, N_MELS) window."""
        if self._verifier is None:
            raise ModelError(f"model {self.path.name} has no verifier")
        return self._verifier.run(window)
