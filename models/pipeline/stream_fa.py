"""False accepts of a model's frozen thresholds on a stream of ordinary speech its selection never saw.

Thresholds are chosen on the first hours of the dev stream; a longer dev stream rendered with the same seed
(`pipeline.build --heldout-only --dev-hours 8`) starts with exactly those hours and continues with new
sentences, so its later part is fresh ordinary speech for a second, independent false-accept count beside
the test set's. Runs in the main venv: `python -m pipeline.stream_fa` from models/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge.detect.detector import AbuseDetector
from edge.detect.model import KwsModel
from pipeline.evaluate import ROOT, frozen_model, onsets, traces


def main() -> None:
    """Print one JSON object: hours counted and false accepts per tier and class."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kws.tflite", help="model (.json beside)")
    ap.add_argument("--stream", type=Path, required=True, help="a dev.npz or test.npz from pipeline.build")
    ap.add_argument("--from-hours", type=float, default=0.0, help="count only after this many hours")
    args = ap.parse_args()
    meta, names, _categories, config = frozen_model(args.model)
    held = np.load(args.stream, allow_pickle=True)
    stream = held["stream"].astype(np.int16)
    start = int(args.from_hours * 3600 * 8000)
    if start >= stream.size:
        raise SystemExit(f"{args.stream} holds only {stream.size / 8000 / 3600:.2f} h of stream")
    # Sets rendered since the sentence log was added say what was spoken where; older ones do not.
    said = held.get("stream_text")
    said_at = held.get("stream_start_s")
    t, s, _v = traces(AbuseDetector(config, KwsModel(args.model)), stream[start:])
    t = t + start / 8000
    out: dict[str, object] = {"hours": round((stream.size - start) / 8000 / 3600, 3)}
    for tier in ("warn", "alert"):
        thr = meta["thresholds"][tier]
        fa = {n: onsets(t, s[:, i + 1], thr[n]) for i, n in enumerate(names)}
        events = []
        for n, times in fa.items():
            for at in times:
                event: dict[str, object] = {"class": n, "t_s": round(at, 2)}
                if said is not None and said_at is not None:
                    # The sentence being spoken, or the one just before the pause the window reaches into.
                    event["sentence"] = str(said[max(0, int(np.searchsorted(said_at, at)) - 1)])
                events.append(event)
        out[tier] = {
            "false_accepts": len(events),
            "per_class": {n: len(v) for n, v in fa.items() if v},
            "events": sorted(events, key=lambda e: float(str(e["t_s"]))),
        }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
