"""Render the second-stage verifier's training set: 2 s windows where the keyword model would ask it.

The keyword model (stage 1) sees 1.28 s; the ordinary speech that fools it looks like a keyword in that
window. The verifier sees the 2 s ending at the same moment and is asked only when stage 1 already scores a
keyword above a low candidate threshold, so it is trained on what it will be asked about: keyword renders
(windows ending where the streaming detector looks, up to 0.4 s after the keyword's end) against every
negative window stage 1 scores as a candidate, plus a random share of the rest.

Half of all renders use generated espeak-ng timbres (``audio.prepare_timbres``), the other half the shipped
train variants: held-out speakers were the largest cause of misses. Train templates and voices only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.detect.features import LINE_BAND_HZ, WINDOW_FRAMES, windows
from edge.detect.model import KwsModel
from pipeline import audio, build, text
from pipeline.pool import NEGATIVE_HOP, NEGATIVE_MIXES, Shares
from pipeline.pool import shard_jobs as pool_jobs

FRAMES = 100
"""2.0 s of context: the stage-1 window and 0.72 s before it."""
POSITIVE_SPANS = [(-2, 4), (4, 10), (10, 20)]
"""Frames after the keyword's end where windows end (the detector fires 0.1 s after the end, median)."""

_STATE: dict[str, object] = {}


def _init(stage1: str, timbres: str, names: list[str], share: float) -> None:
    _STATE.update(model=KwsModel(Path(stage1)), timbres=Path(timbres), names=names, share=share)


def _voice(rng: random.Random) -> audio.Voice:
    if rng.random() < float(_STATE["share"]):  # type: ignore[arg-type]
        return audio.random_timbre_voice(rng, _STATE["timbres"], _STATE["names"])  # type: ignore[arg-type]
    return audio.random_voice(rng, False)


def _stage1(feats: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Stage-1 posteriors (n, classes + 1) of the 1.28 s windows ending at ``ends``."""
    model: KwsModel = _STATE["model"]  # type: ignore[assignment]
    return np.array([model.predict(w) for w in windows(feats, ends, WINDOW_FRAMES)], dtype=np.float32)


def _positive_shard(
    args: tuple[int, int, int, Shares],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, group_index, count, _shares = args  # pool.shard_jobs' jobs; the verifier keeps espeak's voices
    groups, _near = text.load_keywords()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    babble = build.babble_track(rng, 20.0)
    xs, ys, s1 = [], [], []
    for _ in range(count):
        pcm, _start, end = build.render_positive(groups[group_index], rng, nrng, False, babble, _voice(rng))
        feats = build.features(np.concatenate([pcm, np.zeros(4000, np.int16)]))
        end_frame = round(end / build.FRAME_S) - 1
        ends = np.clip([end_frame + rng.randint(a, b) for a, b in POSITIVE_SPANS], 0, len(feats) - 1)
        xs.append(windows(feats, ends, FRAMES))
        s1.append(_stage1(feats, ends)[:, group_index + 1])
        ys += [group_index + 1] * len(ends)
    return np.concatenate(xs).astype(np.float16), np.array(ys, dtype=np.int8), np.concatenate(s1)


def _negative_shard(
    args: tuple[int, int, str, Shares],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, count, _mix, _shares = args  # pool.shard_jobs' jobs; the verifier keeps the template mix
    _groups, near = text.load_keywords(training=True)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    babble = build.babble_track(rng, 20.0)
    mix = NEGATIVE_MIXES["templates"]
    kinds, weights = list(mix), list(mix.values())
    xs, s1 = [], []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        pcm, _sentence = build.render_negative(kind, near, rng, nrng, False, babble, _voice(rng))
        feats = build.features(pcm)
        ends = np.clip(
            np.arange(rng.randint(10, 10 + NEGATIVE_HOP), len(feats) + 8, NEGATIVE_HOP), 0, len(feats) - 1
        )
        xs.append(windows(feats, ends, FRAMES))
        s1.append(_stage1(feats, ends)[:, 1:].max(axis=1))
    x = np.concatenate(xs).astype(np.float16)
    return x, np.zeros(len(x), dtype=np.int8), np.concatenate(s1)


def main() -> None:
    """Write OUT/train.npz (x: 2 s windows, y: labels, s1: stage-1 score) and OUT/data.json."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--stage1", type=Path, default=Path(__file__).resolve().parents[1] / "kws.tflite")
    ap.add_argument("--per-group", type=int, default=500, help="positive renders per keyword group")
    ap.add_argument("--negatives", type=int, default=12000, help="negative utterances")
    ap.add_argument("--timbres", type=int, default=400, help="generated espeak-ng timbres")
    ap.add_argument("--timbre-share", type=float, default=0.5, help="share of renders in a generated timbre")
    ap.add_argument("--candidate", type=float, default=0.02, help="negatives at or above: all kept")
    ap.add_argument("--keep-rest", type=float, default=0.25, help="share kept of the other negatives")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=9000)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    groups, _near = text.load_keywords()
    if not args.stage1.with_suffix(".json").exists():
        # A freshly trained stage 1 has no metadata yet (evaluate.py writes it): enough to load and score.
        from pipeline.evaluate import write_meta

        train = json.loads((args.stage1.parent / "train.json").read_text(encoding="utf-8"))
        classes = [{"id": g.id, "category": g.category} for g in groups]
        half = {g.id: 0.5 for g in groups}
        write_meta(args.stage1, classes, half, half, {"output": train.get("output", "posteriors")})
    names = audio.prepare_timbres(args.out / "timbres", args.timbres, args.seed)
    pos_jobs, neg_jobs = pool_jobs(args.seed, len(groups), args.per_group, args.negatives, 25)
    t0 = time.time()
    xs, ys, ss = [], [], []
    init = (str(args.stage1), str(args.out / "timbres"), names, args.timbre_share)
    with multiprocessing.Pool(args.workers, _init, init) as pool:
        jobs = [(_positive_shard, j) for j in pos_jobs] + [(_negative_shard, j) for j in neg_jobs]
        # In job order, so that the share of "the rest" kept from job i is drawn by seed i on every run.
        for i, (x, y, s) in enumerate(pool.imap(_call, jobs)):
            keep = (
                (y > 0) | (s >= args.candidate) | (np.random.default_rng(i).random(len(y)) < args.keep_rest)
            )
            xs.append(x[keep])
            ys.append(y[keep])
            ss.append(s[keep])
            if i % 20 == 0:
                print(f"shard {i + 1}/{len(jobs)} {time.time() - t0:.0f}s", flush=True)
    x, y, s1 = np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)
    np.savez(args.out / "train.npz", x=x, y=y, s1=s1)
    neg = y == 0
    meta = {
        "frames": FRAMES,
        "per_group": args.per_group,
        "negative_utterances": args.negatives,
        "timbres": args.timbres,
        "timbre_share": args.timbre_share,
        "candidate": args.candidate,
        "keep_rest": args.keep_rest,
        "windows": len(y),
        "positive_windows": int((~neg).sum()),
        "negative_candidates": int((neg & (s1 >= args.candidate)).sum()),
        "negative_above_0.5": int((neg & (s1 >= 0.5)).sum()),
        "positive_stage1_found_0.5": round(float((s1[~neg] >= 0.5).mean()), 3),
        "seconds": round(time.time() - t0),
        "seed": args.seed,
        "front_end_band_hz": list(LINE_BAND_HZ),
    }
    (args.out / "data.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(json.dumps(meta), flush=True)


def _call(job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fn, arg = job
    return fn(arg)


if __name__ == "__main__":
    main()
