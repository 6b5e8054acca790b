"""Sweep how per-hop posteriors are combined over time (mean, minimum, geometric mean of the last k hops).

The dev and test sets are scored once through the real streaming detector with no smoothing; every rule
is then applied to those raw traces, thresholds are chosen on dev by the same rule as the shipped model
(`evaluate.choose`), and test is reported. Prints one line per rule and writes smoothing.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.detect.settings import DetectionConfig
from pipeline.evaluate import Material, View, choose, report, score_material, write_meta

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
    out = Material.__new__(Material)
    out.starts, out.stream, out.hours, out.stream_t = m.starts, m.stream, m.hours, m.stream_t
    out.pos = [(g, end, t, rule(s1), v, pcm) for g, end, t, s1, v, pcm in m.pos]
    out.near = [(rule(s1), v, pcm) for s1, v, pcm in m.near]
    out.stream_s1 = rule(m.stream_s1)
    out.stream_v = m.stream_v
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
    rules = {f"{how} {k}": over_last(k, how) for how in ("mean", "min", "geo") for k in (1, 2, 3, 4, 5)}
    rules = {name: r for name, r in rules.items() if not (name.endswith(" 1") and name != "mean 1")}
    rows = []
    for name, rule in rules.items():
        dev = View(transformed(dev_m, rule), None, 0.0)
        thresholds, dev_rep, score = choose(dev, names, categories)
        test = View(transformed(test_m, rule), None, 0.0)
        test_rep = {t: report(test, names, categories, thresholds[t]) for t in ("alert", "warn")}
        row = {"rule": name, **score, "dev": dev_rep, "test": test_rep, "thresholds": thresholds}
        rows.append(row)
        print(
            f"{name}: dev objective {score['objective']:.3f};"
            f" dev warn {dev_rep['warn']['recall_per_category']} FA {dev_rep['warn']['false_accepts']};"
            f" test warn {test_rep['warn']['recall_per_category']} FA {test_rep['warn']['false_accepts']}"
            f" near {test_rep['warn']['near_miss_fa_rate']} lat {test_rep['warn']['latency_median_s']};"
            f" test alert {test_rep['alert']['recall_per_category']} FA {test_rep['alert']['false_accepts']}",
            flush=True,
        )
    (args.work / "smoothing.json").write_text(
        json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    print(f"wrote {args.work / 'smoothing.json'}")


if __name__ == "__main__":
    main()
