"""Leave one set of sentence types out: thresholds priced without a set, counted on it, for every set.

Thresholds are priced (``evaluate.select``, the tail rule) on dev's streams and the stream-only sets pooled
with them; only sets that no pricing heard can say how often the thresholds fire on sentence types nobody
wrote down. The more sets are priced on, the fewer are left to say it. This script measures both ways for
one model:

- for each fold set S of ``--folds``, thresholds priced on dev and every other fold set, counted on S. The
  false accepts summed over the folds, per hour, estimate how thresholds priced on all the fold sets fire on
  a new set of sentence types (leave-one-out: each fold prices on one set fewer than that, so the estimate
  leans pessimistic);
- thresholds priced on dev and every fold set (what would ship), counted on the ``--checks`` sets, which no
  pricing hears, and on every test set, with recall;
- the model's own thresholds (its JSON) on every set, for comparison.

Scores are cached per model and set (``--cache``), so a second run with other folds or budgets only prices.
Runs in the main venv: ``python -m pipeline.pricing`` from models/ (Makefile target ``pricing``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import pickle
from pathlib import Path

import numpy as np

from edge.detect.detector import balance_dead_zone, balance_prior
from edge.detect.model import read_info
from edge.detect.settings import DetectionConfig
from pipeline.evaluate import (
    BUDGETS,
    ROOT,
    Material,
    View,
    choose,
    emit,
    frozen_model,
    merged,
    report,
    score_material,
    stream_report,
)
from pipeline.table import TARGETS

TIERS = ("alert", "warn")
TARGET_FA_PER_H = {tier: TARGETS[tier][0] for tier in TIERS}
"""The issue's false-accept targets per hour of ordinary speech (the budgets priced for are stricter)."""


DETECTOR_CODE = hashlib.sha256(
    b"".join((ROOT / "edge" / "detect" / f).read_bytes() for f in ("detector.py", "features.py", "model.py"))
).hexdigest()[:16]
"""The code that makes the detector's scores (its settings are keyed apart): traces scored by an older
detector are not reused."""


def balance_running(config: DetectionConfig) -> dict[str, float]:
    """The spectral balance a detector with ``config`` runs: its settings, else its model's JSON's own."""
    assert config.model_path is not None
    info = read_info(config.model_path)
    return {
        "balance_prior_frames": balance_prior(config, info),
        "balance_dead_zone": balance_dead_zone(config, info),
    }


def add_scoring_options(ap: argparse.ArgumentParser) -> None:
    """How every set is scored (pricing's and frozen's options): the balance a detector runs, speech before
    every clip, streams in calls."""
    ap.add_argument(
        "--balance-prior",
        type=int,
        default=None,
        help="the detector's balance_prior_frames to score with (0: no spectral balance); default: the "
        "model's own (front_end.balance_prior_frames in its JSON, 0 when absent)",
    )
    ap.add_argument(
        "--balance-dead-zone",
        type=float,
        default=None,
        help="the detector's balance_dead_zone to score with; default: the model's own (0 when absent)",
    )
    ap.add_argument(
        "--lead-in",
        type=float,
        default=0.0,
        help="seconds of each set's own stream fed before every clip, as a caller talks before a keyword "
        "through the same telephone (what the per-call spectral balance learns from)",
    )
    ap.add_argument(
        "--call-s",
        type=float,
        default=0.0,
        help="score every stream in calls of this many seconds, each a fresh call of the detector (0: one "
        "call the stream long)",
    )


def scoring_config(config: DetectionConfig, args: argparse.Namespace) -> DetectionConfig:
    """``config`` with the balance ``add_scoring_options`` asked for (unset: the model's own stays)."""
    if args.balance_prior is not None:
        config = config.model_copy(update={"balance_prior_frames": args.balance_prior})
    if args.balance_dead_zone is not None:
        config = config.model_copy(update={"balance_dead_zone": args.balance_dead_zone})
    return config


def cached_material(
    config: DetectionConfig,
    path: Path,
    n_classes: int,
    cache: Path,
    lead_in_s: float = 0.0,
    call_s: float = 0.0,
) -> Material:
    """``score_material`` of one set, from the cache when this model scored this file the same way before.

    The audio is dropped from the cached copy (only score traces are priced and counted on): a cached
    Material's ``stream`` is empty and its clips carry no PCM.
    """
    assert config.model_path is not None
    # The traces depend on the network and on how the detector runs it: the model JSON's front end (band,
    # spectral balance reference), the detector's settings with the balance prior it will run (the config's
    # or the JSON's own), and the detector's code are part of the key, not only the network's bytes.
    meta = json.loads(config.model_path.with_suffix(".json").read_text(encoding="utf-8"))
    front_end = dict(meta.get("front_end") or {})
    front_end.pop("balance_prior_frames", None)  # keyed as what the detector runs, below
    front_end.pop("balance_dead_zone", None)
    detector = config.model_dump(mode="json", exclude={"model_path", "model_sha256", "calibration_file"})
    detector |= balance_running(config)
    verifier = (meta.get("verifier") or {}).get("sha256")
    scoring = json.dumps(
        {"front_end": front_end, "detector": detector, "code": DETECTOR_CODE}
        | ({"verifier": verifier} if verifier else {})
        | ({"lead_in_s": lead_in_s} if lead_in_s else {})
        | ({"call_s": call_s} if call_s else {}),
        sort_keys=True,
    )
    digest = hashlib.sha256(config.model_path.read_bytes() + scoring.encode()).hexdigest()[:16]
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    file = cache / f"{digest}-{path.stem}-{key}.pkl"
    if file.exists():
        with file.open("rb") as f:
            material: Material = pickle.load(f)
        return material
    material = score_material(config, path, n_classes, lead_in_s, None, call_s)
    material.stream = np.zeros(0, dtype=np.int16)
    material.pos = [(g, end, t, s1, v, None) for g, end, t, s1, v, _pcm in material.pos]
    material.near = [(s1, v, None) for s1, v, _pcm in material.near]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(material, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(file)
    return material


def price(
    devs: list[Material],
    extra: list[Material],
    names: list[str],
    categories: list[str],
    fa_scale: float = 1.0,
    per_set: bool = False,
) -> dict:
    """Both tiers' thresholds priced on the dev sets and ``extra`` stream-only sets, with the dev objective.

    ``fa_scale`` multiplies both tiers' false-accept budgets (``evaluate.BUDGETS``); ``per_set`` prices each
    class's rate on every set alone (``evaluate.select``).
    """
    dev = View(merged(devs + extra), None, 0.0)
    thresholds, _rep, score = choose(dev, names, categories, fa_scale, per_set)
    return {"thresholds": thresholds, "dev_objective": score["objective"]}


def leave_one_out(
    devs: list[Material],
    folds: dict[str, Material],
    names: list[str],
    categories: list[str],
    fa_scale: float = 1.0,
    per_set: bool = False,
) -> dict[str, tuple[dict, dict]]:
    """For each fold set: the pricing without it (``price``) and its false accepts counted on it."""
    out = {}
    for left, m in folds.items():
        p = price(devs, [f for s, f in folds.items() if s != left], names, categories, fa_scale, per_set)
        out[left] = (p, counts(View(m, None, 0.0), names, p["thresholds"]))
    return out


def counts(view: View, names: list[str], thresholds: dict) -> dict:
    """Both tiers' false accepts on one set's stream: count, hours, per class."""
    out = {}
    for tier in TIERS:
        r = stream_report(view, names, thresholds[tier])
        out[tier] = {k: r[k] for k in ("false_accepts", "stream_hours", "false_accepts_per_class")}
    return out


def pooled_rate(rows: list[dict], tier: str) -> dict:
    """False accepts summed over several sets' counts, per hour, against the tier's target."""
    fa = sum(r[tier]["false_accepts"] for r in rows)
    hours = sum(r[tier]["stream_hours"] for r in rows)
    rate = fa / hours if hours else 0.0
    return {
        "false_accepts": fa,
        "hours": round(hours, 2),
        "per_hour": round(rate, 3),
        "within_target": rate <= TARGET_FA_PER_H[tier],
    }


def recall(view: View, names: list[str], categories: list[str], thresholds: dict) -> dict:
    """Both tiers' recall per category, near-miss rate and false accepts on one test set."""
    out = {}
    for tier in TIERS:
        r = report(view, names, categories, thresholds[tier])
        keep = ("recall_per_category", "near_miss_fa_rate", "false_accepts", "stream_hours")
        out[tier] = {k: r[k] for k in keep}
    return out


def best_holding(pricings: dict[str, dict]) -> str | None:
    """The pricing with the highest dev objective whose leave-one-out rate holds both tiers' budgets.

    The budgets (``evaluate.BUDGETS``, half the targets) are the rates the tail rule prices for; a pricing
    whose thresholds fire more often on a set they were not priced on claims a rate it does not keep.
    None when no pricing holds.
    """
    holding = [
        (p["priced_on_all"]["dev_objective"], label)
        for label, p in pricings.items()
        if all(p["leave_one_out"][t]["per_hour"] <= BUDGETS[t]["fa_per_h"] for t in TIERS)
    ]
    return max(holding)[1] if holding else None


def main() -> None:
    """Print (and write with --out) one JSON object: every fold, the all-set pricing and the model's own."""
    work = ROOT / "models" / "work"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kws.tflite", help="model (.json beside)")
    ap.add_argument(
        "--held",
        type=Path,
        nargs="+",
        default=[work, work / "wide"],
        help="folders of dev.npz/test.npz: every dev is always priced on, every test is reported",
    )
    ap.add_argument(
        "--folds",
        type=Path,
        nargs="+",
        default=[work / f"{s}.npz" for s in ("salad", "everyday", "fresh", "unheard", "later")],
        help="stream-only sets priced on, each left out once",
    )
    ap.add_argument(
        "--checks",
        type=Path,
        nargs="*",
        default=[work / "neighbours.npz", work / "heated.npz"],
        help="stream-only sets never priced on: counted for every pricing",
    )
    ap.add_argument(
        "--fa-scales",
        type=float,
        nargs="+",
        default=[1.0],
        help="multipliers of both tiers' false-accept budgets (evaluate.BUDGETS) to price with, each in full",
    )
    ap.add_argument(
        "--rules",
        nargs="+",
        choices=("pooled", "per-set"),
        default=["pooled"],
        help="pooled: each class's rate on all the pricing sets' hours together (evaluate.py's rule); per-set: "
        "on every set alone (evaluate.select per_set)",
    )
    add_scoring_options(ap)
    ap.add_argument("--cache", type=Path, default=work / "scores", help="folder of cached score traces")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    paths = [h / "dev.npz" for h in args.held] + [h / "test.npz" for h in args.held]
    paths += [*args.folds, *args.checks]
    for path in paths:
        if not path.exists():
            raise SystemExit(f"{path} is missing: render it first (pipeline.build, see the Makefile)")
    meta, names, categories, config = frozen_model(args.model)
    config = scoring_config(config, args)
    # Two processes, each its own detector: the streams are hours long.
    with multiprocessing.Pool(2) as pool:
        jobs = [(config, p, len(names), args.cache, args.lead_in, args.call_s) for p in paths]
        scored = pool.starmap(cached_material, jobs, chunksize=1)  # sets of 4 to 30 h: one at a time
    by_path = dict(zip(paths, scored, strict=True))
    devs = [by_path[h / "dev.npz"] for h in args.held]
    tests = {str(h): View(by_path[h / "test.npz"], None, 0.0) for h in args.held}
    folds = {p.stem: by_path[p] for p in args.folds}
    checks = {p.stem: by_path[p] for p in args.checks}
    out: dict[str, object] = {
        "model": meta.get("version"),
        "targets_fa_per_h": TARGET_FA_PER_H,
        "scoring": balance_running(config)
        | {
            "lead_in_s": args.lead_in,
            "call_s": args.call_s,
        },
    }

    def on_tests(thresholds: dict) -> dict:
        return {h: recall(v, names, categories, thresholds) for h, v in tests.items()}

    def sets_and_tests(thresholds: dict) -> dict:
        return {
            "tests": on_tests(thresholds),
            "sets": {s: counts(View(m, None, 0.0), names, thresholds) for s, m in (folds | checks).items()},
        }

    pricings = {}
    for rule, scale in ((r, x) for r in args.rules for x in args.fa_scales):
        label = f"{rule} x{scale}"
        fold_out = {}
        for left, (p, row) in leave_one_out(devs, folds, names, categories, scale, rule == "per-set").items():
            fold_out[left] = {
                "left_out": row,
                "dev_objective": p["dev_objective"],
                "tests": on_tests(p["thresholds"]),
            }
            print(f"{label} without {left}: {json.dumps(row, ensure_ascii=False)}", flush=True)
        loo = {tier: pooled_rate([f["left_out"] for f in fold_out.values()], tier) for tier in TIERS}
        print(f"{label} leave-one-out: {json.dumps(loo)}", flush=True)
        every = price(devs, list(folds.values()), names, categories, scale, rule == "per-set")
        pricings[label] = {
            "folds": fold_out,
            "leave_one_out": loo,
            "priced_on_all": every | sets_and_tests(every["thresholds"]),
        }
    out["pricings"] = pricings
    out["chosen"] = best_holding(pricings)
    out["model_json"] = {"thresholds": meta["thresholds"]} | sets_and_tests(meta["thresholds"])
    emit(out, args.out)


if __name__ == "__main__":
    main()
