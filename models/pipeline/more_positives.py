"""Add more positive renders (new train-voice draws, 4 windows each) to a built training set.

Used by the third training stage: the first model generalized poorly to held-out voices, so the set is
widened with fresh renders of every keyword group rather than re-built from scratch.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import build, text


def main() -> None:
    """work/train.npz + new positives -> OUT/train.npz."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-group", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    groups, _near = text.load_keywords()
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    babble = build.babble_track(rng, 40.0)
    xs, ys = [], []
    for gi, group in enumerate(groups):
        for _ in range(args.per_group):
            xs.append(build.positive_windows(group, rng, nrng, babble, [(0, 3), (3, 6), (6, 9), (9, 12)]))
            ys += [gi + 1] * 4
    old = np.load(args.work / "train.npz")
    x = np.concatenate([old["x"], np.concatenate(xs).astype(np.float16)])
    y = np.concatenate([old["y"], np.array(ys, dtype=np.int8)])
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "train.npz", x=x, y=y)
    print(f"{len(y)} windows, {int((y > 0).sum())} positive", flush=True)


if __name__ == "__main__":
    main()
