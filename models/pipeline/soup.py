"""Average the weights of sibling keyword models (a "model soup") and export the average as full int8.

Sibling fine-tunes of one model (same start, other data or seed) lie in one basin of the loss, where the
average of their weights often generalises better than any one of them, at no cost on the box: the soup
is one model of the same shape. Ingredients are int8 .tflite files of this pipeline's DS-CNN (rebuilt in
float by ``train.from_tflite``) or folded .keras models. Run in models/.venv-train.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import export_int8, from_tflite, is_folded, tf, width_of


def load_folded(path: Path) -> tf.keras.Model:
    """One ingredient in the folded form (batch normalisation folded into biases)."""
    if path.suffix == ".tflite":
        return from_tflite(path)
    if not is_folded(path):
        raise SystemExit(f"{path}: not a folded model (continue it from its int8 export instead)")
    return tf.keras.models.load_model(path)


def soup(models: list[tf.keras.Model], weights: list[float]) -> tf.keras.Model:
    """The first model with every weight replaced by the weighted mean of all models' weights."""
    shapes = [[w.shape for w in m.get_weights()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        raise SystemExit("the ingredients are not the same network (layer shapes differ)")
    share = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    mixed = [
        sum(float(a) * w.astype(np.float64) for a, w in zip(share, ws, strict=True)).astype(np.float32)
        for ws in zip(*(m.get_weights() for m in models), strict=True)
    ]
    out = models[0]
    out.set_weights(mixed)
    return out


def main() -> None:
    """Soup the ingredients into OUT/kws.tflite with a train.json that records them."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", type=Path, nargs="+", help="int8 .tflite or folded .keras ingredients")
    ap.add_argument("--out", type=Path, required=True, help="work folder for kws.tflite and train.json")
    ap.add_argument("--weights", type=float, nargs="*", default=None, help="one per model (default equal)")
    ap.add_argument("--pool", type=Path, required=True, help="a pipeline/pool.py folder: calibration windows")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    weights = args.weights or [1.0] * len(args.models)
    if len(weights) != len(args.models) or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit("--weights: one non-negative weight per model, not all zero")
    model = soup([load_folded(p) for p in args.models], weights)
    rng = np.random.default_rng(args.seed)
    pool_x = np.load(args.pool / "pool_x.npy", mmap_mode="r")
    calibration = np.asarray(
        pool_x[np.sort(rng.choice(len(pool_x), min(5000, len(pool_x)), replace=False))], np.float32
    )[..., None]
    args.out.mkdir(parents=True, exist_ok=True)
    blob = export_int8(model, calibration, rng, args.out / "kws.tflite")
    report = {
        "soup_of": [str(p) for p in args.models],
        "soup_weights": weights,
        "calibration_pool": str(args.pool),
        "seed": args.seed,
        "parameters": int(model.count_params()),
        "width": width_of(model),
        "frames": int(calibration.shape[1]),
        "output": "logits",
    }
    (args.out / "train.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"wrote {args.out / 'kws.tflite'} ({len(blob)} bytes)", json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
