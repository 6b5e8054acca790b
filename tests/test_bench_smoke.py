"""The detector's benchmark starts and reports every figure the docs quote (its figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def test_bench_kws_runs_and_reports_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_kws.py"), "--seconds", "3", "--calls", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["audio_s"] == 3.0 and figures["calls"] == 2 and figures["inferences"] > 0
    for key in (
        "rtf_cpu",
        "inference_ms_mean",
        "rss_mb_with_detector",
        "call_edge_audio_ms_median",
        "call_end_worker_ms_median",
        "call_end_worker_ms_max",
    ):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["call_edge_audio_ms_max"] >= figures["call_edge_audio_ms_median"]


def _bench_dsp(*args: str) -> dict[str, Any]:
    """The figures ``bench/bench_dsp.py ARGS`` prints (one JSON object), after it exits cleanly."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_dsp.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def test_bench_echo_runs_and_reports_its_figures() -> None:
    figures = _bench_dsp("echo", "--seconds", "8")
    cases = [v for k, v in figures.items() if k != "audio_s"]
    assert len(cases) == 3
    for case in cases:
        assert case["us per frame"] > 0 and case["real-time factor"] > 0
        assert case["shadow swaps"] == 0  # the bench's echo path never changes: nothing to learn again


def test_bench_tonal_runs_and_reports_its_figures() -> None:
    figures = _bench_dsp("tonal", "--calls", "5")
    for case in ("hold music", "speech"):
        assert 0 < figures[case]["ms per candidate, median"] <= figures[case]["ms per candidate, max"]
        assert figures[case]["real-time factor, every hop a candidate"] > 0
