"""Print the evaluation table of a model's metadata JSON as Markdown (pasted into MODEL_CARD.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = {"alert": (2.0, 0.90, 0.15), "warn": (0.5, 0.80, 0.05)}


def main() -> None:
    """models/kws.json (or the path given) -> Markdown on stdout."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "kws.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    ev = meta["evaluation"]
    print(
        "| set | tier | FA/h (target) | FAs / hours | recall profanity / threat / sexual (target) | near-miss FA (target) | latency median / p90 |"
    )
    print("|---|---|---|---|---|---|---|")
    # Every held-out test (band-limited, wideband) when there are several, else the one test.
    sets = {"dev": ev["dev"]} | (
        {f"test {h}": rep for h, rep in ev["test_by_held"].items()}
        if ev.get("test_by_held")
        else {"test": ev["test"]}
    )
    for split, rep in sets.items():
        for tier in ("alert", "warn"):
            r = rep[tier]
            fa_t, rec_t, near_t = TARGETS[tier]
            rc = r["recall_per_category"]
            print(
                f"| {split} | {tier} | {r['false_accepts_per_hour']} (<= {fa_t}) | {r['false_accepts']} / {r['stream_hours']} h "
                f"| {rc.get('profanity')} / {rc.get('threat')} / {rc.get('sexual')} (>= {rec_t}) "
                f"| {r['near_miss_fa_rate']} of {r['near_miss_clips']} (<= {near_t}) "
                f"| {r['latency_median_s']} / {r['latency_p90_s']} s |"
            )
    # evaluate.py's first --fresh set is its "fresh" report (the fresh stream until the heated one took its place).
    first = Path(ev["fresh_set"]).stem if ev.get("fresh_set") else "fresh"
    streams = {first: ev.get("fresh")} | (ev.get("more_fresh") or {})
    for label, rep in streams.items():
        for tier, r in (rep or {}).items():
            fa_t = TARGETS[tier][0]
            print(
                f"| {label} | {tier} | {r['false_accepts_per_hour']} (<= {fa_t}) "
                f"| {r['false_accepts']} / {r['stream_hours']} h | (stream only) | | |"
            )
    print()
    print("Recall per keyword group on test (alert / warn):")
    print()
    print("| group | category | alert thr | warn thr | recall alert | recall warn | test FAs alert / warn |")
    print("|---|---|---|---|---|---|---|")
    for c in meta["classes"]:
        n = c["id"]
        ta, tw = ev["test"]["alert"], ev["test"]["warn"]
        print(
            f"| {n} | {c['category']} | {meta['thresholds']['alert'][n]} | {meta['thresholds']['warn'][n]} "
            f"| {ta['recall_per_class'][n]} | {tw['recall_per_class'][n]} "
            f"| {ta['false_accepts_per_class'].get(n, 0)} / {tw['false_accepts_per_class'].get(n, 0)} |"
        )


if __name__ == "__main__":
    main()
