"""Sweep how per-hop posteriors are combined over time (mean, minimum, geometric mean of the last k hops).

The dev and test sets are scored once through the real streaming detector with no smoothing; every rule
is then applied to those raw traces, thresholds are chosen on dev by the same rule as the shipped model
(`evaluate.choose`), and test is reported. Prints one line per rule and writes smoothing.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.detect.settings import DetectionConfig
from pipeline.evaluate import Material, View, score_material, summary, trial, write_meta

Rule = Callable[[np.ndarray], np.ndarray]


def over_last(k: int, how: str) -> Rule:
    """A rule that combines each hop's posterior with the k-1 hops before it (fewer at the start)."""

    def apply(raw: np.ndarray) -> np.ndarray:
        if len(raw) == 0 or k == 1:
            return raw
        pad = np.concatenate([np.repeat(raw[:1], k - 1, axis=0), raw])
        stack = np.stack([pad[i : i + len(raw)] for i in range(k)])
        if how == "mean":
            return stack.mean(axis=0)
        if how == "min":
            return stack.min(axis=0)
        if how == "geo":
            return np.exp(np.log(np.maximum(stack, 1e-9)).mean(axis=0))
        raise ValueError(how)

    return apply


def transformed(m: Material, rule: Rule) -> Material:
    """A copy of m's traces with rule applied to every clip and the stream."""
    out = copy.copy(m)
    out.pos = [(g, end, t, rule(s1), v, pcm) for g, end, t, s1, v, pcm in m.pos]
    out.near = [(rule(s1), v, pcm) for s1, v, pcm in m.near]
    out.stream_s1 = rule(m.stream_s1)
    return out


def main() -> None:
    """Score once without smoothing, then report every rule."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True, help="folder with kws.tflite, data.json")
    ap.add_argument("--held", type=Path, required=True, help="folder of dev.npz/test.npz")
    args = ap.parse_args()
    data = json.loads((args.work / "data.json").read_text(encoding="utf-8"))
    names = [g["id"] for g in data["groups"]]
    categories = [g["category"] for g in data["groups"]]
    model = args.work / "kws.tflite"
    classes = [{"id": n, "category": c, "typical_s": 0.8} for n, c in zip(names, categories, strict=True)]
    half = {n: 0.5 for n in names}
    write_meta(model, classes, half, half, {"output": "logits", "verifier": None})
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        calibration_enabled=False,
        model_path=model,
        smoothing_hops=1,
    )
    with multiprocessing.Pool(2) as pool:
        dev_m, test_m = pool.starmap(
            score_material,
            [(config, args.held / "dev.npz", len(names)), (config, args.held / "test.npz", len(names))],
        )
    # One hop is the same under every rule.
    rules = {"mean 1": over_last(1, "mean")} | {
        f"{how} {k}": over_last(k, how) for how in ("mean", "min", "geo") for k in (2, 3, 4, 5)
    }
    rows = []
    for name, rule in rules.items():
        dev = View(transformed(dev_m, rule), None, 0.0)
        test = View(transformed(test_m, rule), None, 0.0)
        thresholds, row = trial(dev, test, names, categories)
        rows.append({"rule": name, **row, "thresholds": thresholds})
        print(f"{name}: {summary(row)}", flush=True)
    (args.work / "smoothing.json").write_text(
        json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    print(f"wrote {args.work / 'smoothing.json'}")


if __name__ == "__main__":
    main()
