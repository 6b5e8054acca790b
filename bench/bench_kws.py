"""Benchmark the abuse detector: real-time factor per line, inference time, resident memory.

Run: nice -n 10 .venv/bin/python bench/bench_kws.py [--seconds 120] [--model OTHER.tflite]. Figures go into
docs/detect.md; --model (its .json beside it) compares another model on the same machine and speech.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np

from edge.detect.cli import read_wav
from edge.detect.detector import load_detector
from edge.detect.settings import DetectionConfig

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "kws"


def rss_mb() -> float:
    """Current resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Print one JSON object with the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of caller speech to run")
    ap.add_argument("--model", type=Path, default=None, help="a .tflite with its .json (default: shipped)")
    args = ap.parse_args()
    speech = np.concatenate([read_wav(p) for p in sorted(FIXTURES.glob("*.wav"))])
    reps = int(np.ceil(args.seconds * 8000 / speech.size))
    pcm = np.tile(speech, reps)[: int(args.seconds * 8000)]
    before = rss_mb()
    detector, error = load_detector(DetectionConfig(inline=True, calibration_enabled=False, model_path=args.model))
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
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
