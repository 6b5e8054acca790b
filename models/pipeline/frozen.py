"""A model's frozen thresholds on held-out sets: recall, near-miss rate and false accepts, both tiers, side by side.

For material that thresholds must not be chosen on (the re-voiced test set, a site's clips): each set is
scored by the real streaming detector, as ``evaluate.py`` does, with the thresholds in the model's JSON.
``--stream-hours`` counts false accepts on the first hours of every set's stream only, so a short set
(``build.py --revoiced --test-hours 2``) can be set beside the same hours of the plain set it was made from.
Runs in the main venv: ``python -m pipeline.frozen --sets work/test.npz work/revoiced/test.npz`` from models/.
"""

from __future__ import annotations

import argparse
import multiprocessing
from pathlib import Path

from pipeline.evaluate import ROOT, Material, View, emit, frozen_model, report, score_material
from pipeline.pricing import add_scoring_options, balance_running, cached_material, scoring_config


def first_hours(m: Material, hours: float) -> Material:
    """``m`` with its stream's score traces cut to the first ``hours`` (the clips untouched)."""
    keep = m.stream_t < hours * 3600.0
    m.stream_t, m.stream_s1, m.stream_v = m.stream_t[keep], m.stream_s1[keep], m.stream_v[keep]
    m.hours = min(m.hours, hours)
    return m


def main() -> None:
    """Print one JSON object: for each set and tier, what the evaluation reports."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kws.tflite", help="model (.json beside)")
    ap.add_argument("--sets", type=Path, nargs="+", required=True, help="held-out .npz files (build.py)")
    ap.add_argument("--stream-hours", type=float, default=None, help="count only each stream's first hours")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of cached score traces (pricing.py's): the same network (by its bytes) on the same set is "
        "scored once, whatever thresholds its JSON holds (not with --lead-in or --call-s, which score only "
        "--stream-hours when given)",
    )
    add_scoring_options(ap)
    args = ap.parse_args()
    meta, names, categories, config = frozen_model(args.model)
    config = scoring_config(config, args)
    with multiprocessing.Pool(min(2, len(args.sets))) as pool:
        if args.lead_in > 0 or args.call_s > 0:
            jobs_lead = [
                (config, path, len(names), args.lead_in, args.stream_hours, args.call_s) for path in args.sets
            ]
            scored = pool.starmap(score_material, jobs_lead, chunksize=1)
        elif args.cache is None:
            scored = pool.starmap(score_material, [(config, path, len(names)) for path in args.sets])
        else:
            jobs = [(config, path, len(names), args.cache) for path in args.sets]
            scored = pool.starmap(cached_material, jobs)
    out: dict[str, object] = {
        "model": meta.get("version"),
        "stream_hours_counted": args.stream_hours,
        "lead_in_s": args.lead_in,
        "call_s": args.call_s,
    } | balance_running(config)
    for path, material in zip(args.sets, scored, strict=True):
        if args.stream_hours is not None:
            material = first_hours(material, args.stream_hours)
        view = View(material, None, 0.0)
        out[str(path)] = {
            tier: report(view, names, categories, meta["thresholds"][tier]) for tier in ("alert", "warn")
        }
    emit(out, args.out)


if __name__ == "__main__":
    main()
