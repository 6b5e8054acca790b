"""Benchmark the abuse detector: real-time factor per line, inference time, resident memory, call edges.

Run: nice -n 10 .venv/bin/python bench/bench_kws.py [--seconds 120] [--model OTHER.tflite]. Figures go into
docs/detect.md; --model (its .json beside it) compares another model on the same machine and speech.
Call edges: the box's threaded detector with a full calibration state and sealed clips, timed on the
audio side (``end_call`` + ``reset``, what the audio loop pays) and in the worker (the call's end).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli import read_recording
from edge.detect.calibration import MAX_PEAKS
from edge.detect.clips import SealedClipSink
from edge.detect.detector import load_detector
from edge.detect.settings import DetectionConfig
from edge.record.seal import generate_keypair

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "kws"


def rss_mb() -> float:
    """Current resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def call_edges(model: Path | None, calls: int = 20) -> dict[str, Any]:
    """Milliseconds a call's end and the next call's start cost the audio loop, and the worker's call end."""
    audio_side, worker_side = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        public = generate_keypair(work / "central").public_path
        sink = SealedClipSink(work / "data", str(public), lambda kind, detail: None)
        config = DetectionConfig(shouting_enabled=False, calibration_file=work / "cal.json", model_path=model)
        detector, error = load_detector(config, sink)
        assert detector is not None, error
        rng = random.Random(1)
        calibrator = detector.calibrator
        for name in calibrator.peaks:  # a box that has heard its site for months: every peak list full
            calibrator.peaks[name] = sorted((rng.uniform(0.3, 0.99) for _ in range(MAX_PEAKS)), reverse=True)
        calibrator.speech_h = 50.0
        # The keyword fixtures with a second of quiet after each: every call detects and seals clips.
        gap = np.zeros(8000, np.int16)
        call = np.concatenate(
            [np.concatenate([read_recording(p), gap]) for p in sorted(FIXTURES.glob("[pst]*.wav"))]
        )
        for n in range(calls):
            detector.reset()
            for i in range(0, call.size - 159, 160):
                detector.feed(call[i : i + 160], i / 8000)
            detector.wait_idle()
            began = time.perf_counter()
            detector.end_call(staff_acted=n % 2 == 0)  # half confirmed (no learning), half learned from
            detector.reset()
            audio_side.append(time.perf_counter() - began)
            began = time.perf_counter()
            detector.wait_idle()
            worker_side.append(time.perf_counter() - began)
        detector.close()
        clips = sink.saved
    return {
        "calls": calls,
        "call_edge_audio_ms_median": round(1000 * statistics.median(audio_side), 3),
        "call_edge_audio_ms_max": round(1000 * max(audio_side), 3),
        "call_end_worker_ms_median": round(1000 * statistics.median(worker_side), 2),
        "call_end_worker_ms_max": round(1000 * max(worker_side), 2),
        "clips_sealed": clips,
    }


def main() -> None:
    """Print one JSON object with the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of caller speech to run")
    ap.add_argument("--model", type=Path, default=None, help="a .tflite with its .json (default: shipped)")
    ap.add_argument("--calls", type=int, default=20, help="calls for the call-edge timing (default 20)")
    args = ap.parse_args()
    speech = np.concatenate([read_recording(p) for p in sorted(FIXTURES.glob("*.wav"))])
    reps = int(np.ceil(args.seconds * 8000 / speech.size))
    pcm = np.tile(speech, reps)[: int(args.seconds * 8000)]
    before = rss_mb()
    detector, error = load_detector(
        DetectionConfig(inline=True, calibration_enabled=False, model_path=args.model)
    )
    assert detector is not None, error
    loaded = rss_mb()
    detector.reset()
    began = time.process_time()
    wall = time.perf_counter()
    for i in range(0, pcm.size, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    cpu = time.process_time() - began
    wall = time.perf_counter() - wall
    health = detector.health()
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "audio_s": round(pcm.size / 8000, 1),
        "rtf_cpu": round(cpu / (pcm.size / 8000), 4),
        "rtf_wall": round(wall / (pcm.size / 8000), 4),
        "inferences": health["inferences"],
        "inference_ms_mean": health["mean_inference_ms"],
        "gated_share": round(1 - health["inferences"] / (pcm.size / 800), 3),
        "rss_mb_before_model": round(before, 1),
        "rss_mb_with_detector": round(loaded, 1),
        "rss_mb_after_run": round(rss_mb(), 1),
        "model_bytes": Path(health["model"]["path"]).stat().st_size,
        **call_edges(args.model, args.calls),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
