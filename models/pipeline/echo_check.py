"""The line's echo of the staff, through the box's detector: unhandled, with the echo check alone, and with
the echo canceller and the check (as the box runs them).

The line leg carries back what the box sends to the line (the staff's voice, its prompts) some 10-20 dB
down, through the DAA's hybrid. Two measurements, both with the shipped model as the box runs it (180 s
calls, each starting with the recording notice, whose echo the check learns the line's level from):

- ``--stream``: a stream set (``build.py --staff-hours``: what staff say) sent to the line, its echo
  ``--erl`` dB down through the echo path over line noise, the caller silent: every detection is the
  staff's own words read as the caller's;
- ``--double-talk``: every spoken variant of every keyword group (keywords.toml), each in a held-out voice,
  said while a staff sentence plays over it (at the caller's level, and 6 dB louder), on lines that echo
  8, 15 and 25 dB down: warned with no echo handling, with the echo check alone, with the canceller and
  the check (the box's), and with no staff at all.

The echo path is one frame and 37 samples of buffering, then 6 ms of a mismatched hybrid's ringing
(``--path linear``). Harder paths: ``nonlinear`` (what is sent saturates softly in the line interface
before the hybrid: no linear filter takes that echo down by more than about 20 dB; the report's
``linear_floor_db`` says how far on the stream given), ``changing`` (the hybrid's ringing changes halfway
through every call, as when the line is switched to another circuit; the box's buffering stays) and
``far-end`` (the far end's echo too: the caller's own line's hybrid, 10 dB under the box's, 40-120 ms
later, different on every call).

Runs in the main venv: ``python -m pipeline.echo_check`` from models/ (Makefile target ``echo-check``).
"""

from __future__ import annotations

import argparse
import functools
import random
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter

from edge.audio import read_wav, synthesize
from edge.config import default_config
from edge.core.events import Tier
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.dsp.echo import LineEcho
from edge.dsp.levels import to_pcm
from edge.prompts import shipped_prompt_path
from edge.runtime import line_echo
from pipeline.evaluate import ROOT, emit
from pipeline.text import STAFF_TEMPLATES, fill

FRAME = 160
CALL_S = 180
LINE_NOISE_DBOV = -70.0
VOICES = ["ko+f1", "ko+f3", "ko+m2", "ko+m5", "ko+f5", "ko+m7"]
STAFF_VOICES = ["ko+m3", "ko+f2"]


def _ringing(rng: np.random.Generator) -> np.ndarray:
    """6 ms of a mismatched hybrid's ringing, its shape drawn from ``rng``."""
    taps = np.arange(48)
    ringing = rng.normal(0.0, 1.0, taps.size) * np.exp(-taps / 6.0)
    ringing[0] += 1.5
    return ringing


def _hybrid(seed: int = 11) -> np.ndarray:
    """An echo path: 1 frame and 37 samples of the box's buffering, then 6 ms of a mismatched hybrid's ringing."""
    return np.concatenate([np.zeros(FRAME + 37), _ringing(np.random.default_rng(seed))])


PATHS = ("linear", "nonlinear", "changing", "far-end")
"""Echo paths: the linear hybrid; the same after a soft saturation; a hybrid that changes halfway through; the
hybrid and the far end's echo."""

SATURATION = 12000.0
"""Where the nonlinear path's soft clipper bends (sample units, -8.7 dBov): the staff's loud syllables reach it.

A stress case, not a typical interface: on the staff stream no linear filter takes this path's echo down by
more than about 20 dB, where a line interface's own distortion (a few tenths of a percent) allows 40 or more.
"""


def _saturated(x: np.ndarray) -> np.ndarray:
    """The line interface's nonlinearity: a soft clipper (odd-order distortion, as a saturating transformer's)."""
    return SATURATION * np.tanh(x / SATURATION)


FAR_END_DB = 10.0
"""How much quieter than the box's own hybrid's echo the far end's comes back (``--path far-end``)."""


def _far_end(call: int) -> np.ndarray:
    """The far end's echo path for one call: its own hybrid's ringing, 40-120 ms after the box's buffering."""
    rng = np.random.default_rng(1000 + call)
    delay = FRAME + 37 + int(rng.integers(40, 121)) * 8
    ringing = _ringing(rng)
    near = _hybrid()
    ringing *= np.sqrt(np.sum(near**2) / np.sum(ringing**2)) * 10 ** (-FAR_END_DB / 20)
    return np.concatenate([np.zeros(delay), ringing])


def _through(x: np.ndarray, path: str, call: int = 0) -> np.ndarray:
    """``x`` through the echo ``path`` (on call number ``call``), before the line's loss and noise."""
    if path == "nonlinear":
        return np.asarray(lfilter(_hybrid(), 1.0, _saturated(x)))
    late = np.asarray(lfilter(_hybrid(), 1.0, x))
    if path == "far-end":
        late += lfilter(_far_end(call), 1.0, x)
    if path == "changing":
        # From the call's middle on, another circuit's hybrid rings differently; the box's buffering stays.
        half = x.size // 2
        late[half:] = lfilter(_hybrid(seed=12), 1.0, x)[half:]
    return late


def _echo(
    sent: np.ndarray, erl_db: float, rng: np.random.Generator, path: str = "linear", call: int = 0
) -> np.ndarray:
    """What the line leg carries of ``sent``: through the echo ``path``, ``erl_db`` down, over the line's noise."""
    x = sent.astype(np.float64)
    late = _through(x, path, call)
    power_in, power_out = float(np.mean(x**2)), float(np.mean(late**2))
    if power_out > 0:
        late *= np.sqrt(power_in / power_out) * 10 ** (-erl_db / 20)
    return late + rng.normal(0.0, 32768 * 10 ** (LINE_NOISE_DBOV / 20), sent.size)


def _notice_path(path: str) -> str:
    """The path the recording notice's echo takes: a changing path changes only after the bridge."""
    return "linear" if path == "changing" else path


def linear_floor_db(sent: np.ndarray, path: str, taps: int = 320) -> float:
    """How far the best linear filter (least squares, ``taps`` long) could take ``path``'s echo down, in dB."""
    x = sent.astype(np.float64)[: 8000 * 30]
    echo = _through(x, path)
    windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.zeros(taps - 1), x]), taps)
    h, *_ = np.linalg.lstsq(windows[:, ::-1], echo, rcond=None)
    left = echo - windows[:, ::-1] @ h
    return float(10 * np.log10(np.mean(echo**2) / max(np.mean(left**2), 1e-12)))


MODES = {
    "unchecked": {"echo_return_loss_db": 0.0},
    "checked": {"echo_canceller_ms": 0},
    "cancelled": {},
}
"""How the box hears the line: no echo handling; the echo check alone; the canceller and the check (shipped)."""


def _line_echo(mode: str) -> LineEcho:
    config = default_config()
    detection = config.detection.model_copy(update=MODES[mode])
    return line_echo(config.model_copy(update={"detection": detection}))


@functools.cache
def _notice() -> np.ndarray:
    """The recording notice the box plays to the line before every bridge."""
    return read_wav(shipped_prompt_path("recording_notice"))


def _call(
    detector: AbuseDetector, echo: LineEcho, line: np.ndarray, sent: np.ndarray, notice_line: np.ndarray
) -> list[Any]:
    """One call as the runtime runs it: the notice (learned from), then the bridged call."""
    notice = _notice()
    echo.reset()
    detector.reset()
    for i in range(notice.size // FRAME):
        echo.heard(to_pcm(notice_line[i * FRAME : (i + 1) * FRAME]), bridged=False)
        echo.sent(notice[i * FRAME : (i + 1) * FRAME])
    for i in range(line.size // FRAME):
        detector.feed(echo.heard(to_pcm(line[i * FRAME : (i + 1) * FRAME]), bridged=True), i * FRAME / 8000)
        echo.sent(to_pcm(sent[i * FRAME : (i + 1) * FRAME]))
    detector.feed(np.zeros(4000, dtype=np.int16), line.size / 8000)
    return list(detector.detections)


def stream_check(
    detector: AbuseDetector, stream_path: Path, erl_db: float, path: str = "linear"
) -> dict[str, Any]:
    """Detections on a stream sent to the line and heard back only as its echo (through ``path``), in each of MODES."""
    held = np.load(stream_path, allow_pickle=True)
    stream = held["stream"].astype(np.int16)
    said, said_at = held["stream_text"], held["stream_start_s"]
    notice = _notice()
    out: dict[str, Any] = {"hours": round(stream.size / 8000 / 3600, 3), "erl_db": erl_db, "path": path}
    if path == "nonlinear":
        out["linear_floor_db"] = round(linear_floor_db(stream, path), 1)
    for mode in MODES:
        echo, rng = _line_echo(mode), np.random.default_rng(0)
        found: dict[str, list[dict[str, Any]]] = {"warn": [], "alert": []}
        for start in range(0, stream.size - FRAME, CALL_S * 8000):
            sent = stream[start : start + CALL_S * 8000]
            call = start // (CALL_S * 8000)
            line = _echo(sent, erl_db, rng, path, call)
            notice_line = _echo(notice, erl_db, rng, _notice_path(path), call)
            for d in _call(detector, echo, line, sent, notice_line):
                t = start / 8000 + d.t
                sentence = str(said[max(0, int(np.searchsorted(said_at, t)) - 1)])
                found[str(d.event.tier)].append(
                    {"class": d.event.keyword, "t_s": round(t, 1), "sentence": sentence}
                )
        cancelled = echo.cancelled_db
        out[mode] = {
            "learned_erl_db": round(echo.return_loss_db, 1),
            "cancelled_db": None if cancelled is None else round(cancelled, 1),
            "withheld_frames": echo.echo_frames,
            "canceller_restarts": echo.resets,
            "shadow_swaps": echo.swaps,
            **{
                tier: {"count": len(v), "per_class": dict(Counter(e["class"] for e in v)), "events": v}
                for tier, v in found.items()
            },
        }
    return out


def double_talk(
    detector: AbuseDetector, erls: list[float], seed: int, path: str = "linear"
) -> dict[str, Any]:
    """Warning recall of the keyword variants said over staff speech, with and without the check."""
    groups = tomllib.loads((ROOT / "models" / "keywords.toml").read_text(encoding="utf-8"))["group"]
    rng = random.Random(seed)
    clips = []
    for group in groups:
        for variant in group["say"]:
            word = synthesize(variant, voice=rng.choice(VOICES)).astype(np.float64)
            staff = synthesize(fill(rng.choice(STAFF_TEMPLATES), rng), voice=rng.choice(STAFF_VOICES))
            caller = np.concatenate([np.zeros(int(0.8 * 8000)), word, np.zeros(8000)])
            over = np.zeros(caller.size)
            over[: min(caller.size, staff.size)] = staff[: caller.size].astype(np.float64)
            clips.append((group["id"], caller, over))

    def level(x: np.ndarray) -> float:
        loud = x[np.abs(x) > 50]
        return float(np.sqrt(np.mean(loud**2))) if loud.size else 1.0

    out: dict[str, Any] = {"clips": len(clips), "path": path}
    notice = _notice()
    for erl in erls:
        row: dict[str, float] = {}
        conditions = [("alone", None, "cancelled")] + [
            (f"{over_name}_{mode}", staff_db, mode)
            for over_name, staff_db in (("equal", 0.0), ("louder", 6.0))
            for mode in MODES
        ]
        for name, staff_db, mode in conditions:
            echo, nrng = _line_echo(mode), np.random.default_rng(1)
            warned = 0
            for call, (group_id, caller, over) in enumerate(clips):
                if staff_db is None:
                    sent = np.zeros(caller.size)
                else:
                    sent = over * level(caller) / level(over) * 10 ** (staff_db / 20)
                line = caller + _echo(sent, erl, nrng, path, call)
                notice_line = _echo(notice, erl, nrng, _notice_path(path), call)
                found = _call(detector, echo, line, sent, notice_line)
                warned += any(d.event.keyword == group_id and d.event.tier is Tier.WARN for d in found)
            row[name] = round(warned / len(clips), 3)
        out[f"erl_{erl:g}"] = row
    return out


def main() -> None:
    """Print (and write) one JSON object with the measurements asked for."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None, help="model (.json beside); default the shipped one")
    ap.add_argument("--stream", type=Path, default=None, help="a stream .npz sent to the line (staff.npz)")
    ap.add_argument("--erl", type=float, default=15.0, help="dB the line returns the stream down")
    ap.add_argument(
        "--double-talk", type=float, nargs="*", default=None, help="echo levels (dB) to run it at"
    )
    ap.add_argument("--path", choices=PATHS, default="linear", help="the echo path (see the module's text)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    config = DetectionConfig(
        inline=True, shouting_enabled=False, calibration_enabled=False, model_path=args.model
    )
    detector, error = load_detector(config)
    if detector is None:
        raise SystemExit(error)
    report: dict[str, Any] = {"model": detector.model.info.version}
    if args.stream is not None:
        report["stream"] = stream_check(detector, args.stream, args.erl, args.path)
    if args.double_talk:
        report["double_talk"] = double_talk(detector, args.double_talk, args.seed, args.path)
    emit(report, args.out)


if __name__ == "__main__":
    main()
