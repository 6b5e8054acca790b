"""Render a large pool of training windows in parallel: fresh positives and a wide negative pool for mining.

The first training set (build.py) had ~3 000 negative utterances; ordinary sentences of the dev stream still
scored like keywords. This pool adds many more negative utterances of every kind (ordinary, shuffled, babble,
near-miss) with windows every 160 ms, from which the trainer mines the hardest ones each round, and more
positive renders per group with windows placed where the streaming detector looks (0-240 ms after the
keyword's end). Train voices and train templates only: dev and test stay unseen.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.detect.features import LINE_BAND_HZ, windows
from pipeline import audio, build, text

NEGATIVE_MIXES = {
    "templates": {"ordinary": 0.4, "shuffled": 0.2, "babble": 0.15, "near": 0.25},
    "lexicon": {"ordinary": 0.35, "shuffled": 0.15, "babble": 0.1, "near": 0.2, "lexicon": 0.2},
    "neighbours": {"ordinary": 0.35, "shuffled": 0.15, "babble": 0.1, "near": 0.2, "neighbour": 0.2},
    "everyday": {
        "ordinary": 0.2,
        "everyday": 0.2,
        "shuffled": 0.1,
        "everyday_shuffled": 0.1,
        "babble": 0.15,
        "near": 0.25,
    },
    "unheard": {
        "ordinary": 0.1,
        "everyday": 0.15,
        "unheard": 0.15,
        "shuffled": 0.05,
        "everyday_shuffled": 0.05,
        "unheard_shuffled": 0.05,
        "babble": 0.15,
        "near": 0.3,
    },
    "upset": {
        "ordinary": 0.15,
        "everyday": 0.15,
        "upset": 0.15,
        "shuffled": 0.05,
        "everyday_shuffled": 0.05,
        "upset_shuffled": 0.05,
        "babble": 0.15,
        "near": 0.25,
    },
}
"""The share of each render_negative kind in a pool, by ``--mix``.

templates: the default. lexicon: a fifth dictionary word salad (text.word_salad); measured once (stage
"13b", MODEL_CARD.md "Fresh sentence types"): more false accepts on fresh sentence types, not fewer, so the
salad serves the dev side instead (build.py --salad-hours). neighbours: a fifth dictionary words that sound
close to a keyword (text.phonetic_neighbour), said in the near-miss frames. everyday: half the sentences
and shuffled words from the training three quarters of text.EVERYDAY_TEMPLATES (stage 15). unheard: 15 %
sentences and 5 % shuffled words of text.UNHEARD_TEMPLATES beside the everyday mix's kinds, and 30 %
near-misses, among them keywords.toml's ``confusions`` (MIXES_WITH_CONFUSIONS; stage 16, measured and not
shipped: louder on text.LATER_TEMPLATES, the check left). upset: 15 % sentences and 5 % shuffled words of
text.UPSET_TRAIN_TEMPLATES, upset callers who are not abusive, beside the everyday mix's kinds (stage 20; the
heated stream, text.HEATED_TEMPLATES, is its check).
"""


MIXES_WITH_CONFUSIONS = {"unheard"}
"""Mixes whose near-misses include keywords.toml's stage-16 ``confusions`` (text.load_keywords)."""


NEGATIVE_HOP = 8
"""Frames between negative windows (160 ms; the detector infers every 100 ms)."""


REVOICE_SEED = 7_000_000
"""Offset of the re-voicing random stream from a shard's seed (its own stream: the shard's draws stay as
they were, so a pool with ``--revoiced 0`` renders exactly what it rendered before the option)."""


T = TypeVar("T")
"""What ``sometimes`` hands out: a transform of a render."""


def sometimes(seed: int, share: float, make: Callable[[np.random.Generator], T]) -> Callable[[], T | None]:
    """Per render: ``make(rng)`` with probability ``share``, else None, on its own random stream ``seed``
    (which ``make``'s transform goes on drawing from)."""
    rng = np.random.default_rng(seed)

    def draw() -> T | None:
        if share <= 0 or rng.random() >= share:
            return None
        return make(rng)

    return draw


def revoicer(seed: int, share: float) -> Callable[[], build.Revoice | None]:
    """Per render: ``pipeline.revoice`` with probability ``share``, else None (espeak's own voice)."""

    def make(vrng: np.random.Generator) -> build.Revoice:
        from pipeline.revoice import revoice

        return lambda x: revoice(x, vrng)

    return sometimes(seed + REVOICE_SEED, share, make)


RECODE_SEED = 9_000_000
"""Offset of the mobile-codec random stream from a shard's seed (its own stream, as for re-voicing: a pool
with ``--mobile-codec 0`` renders exactly what it rendered before the option)."""


def recoder(seed: int, share: float) -> Callable[[], build.Recode | None]:
    """Per render: with probability ``share`` one of ``codec.CODECS`` drawn evenly, else None (G.711 only)."""

    def make(crng: np.random.Generator) -> build.Recode:
        from pipeline import codec

        name = sorted(codec.CODECS)[int(crng.integers(len(codec.CODECS)))]
        return lambda pcm: codec.round_trip(pcm, name, crng)

    return sometimes(seed + RECODE_SEED, share, make)


HANDSET_SEED = 11_000_000
"""Offset of the handset random stream from a shard's seed (its own stream: a pool with ``--handset 0``
renders exactly what it rendered before the option)."""


def handsetter(seed: int, share: float) -> Callable[[], build.Recode | None]:
    """Per render: with probability ``share`` a telephone's frequency response drawn at random
    (``handset.random_response``) on the line's audio, else None (a flat line)."""

    def make(hrng: np.random.Generator) -> build.Recode:
        from pipeline import handset

        taps = handset.fir(handset.random_response(hrng))
        return lambda pcm: handset.through(pcm, taps, hrng)

    return sometimes(seed + HANDSET_SEED, share, make)


MUSIC_SEED = 13_000_000
"""Offset of the music random stream from a shard's seed (its own stream: a pool with ``--music 0`` renders
exactly what it rendered before the option)."""


def musician(seed: int, share: float) -> Callable[[], audio.Audio | None]:
    """Per render: with probability ``share`` the shard's music (``music_check.training_bed``, rendered once,
    on first use) as the line's noise under the speech, else None (babble, pink noise or hum as before)."""
    bed: list[audio.Audio] = []

    def make(_mrng: np.random.Generator) -> audio.Audio:
        if not bed:
            from pipeline.music_check import training_bed

            bed.append(training_bed(seed + MUSIC_SEED))
        return bed[0]

    return sometimes(seed + MUSIC_SEED, share, make)


def then(first: build.Recode | None, second: build.Recode | None) -> build.Recode | None:
    """``first`` and then ``second`` on the line's audio (either may be None): a handset before the radio codec."""
    if first is None or second is None:
        return first or second
    return lambda pcm: second(first(pcm))


Shares = tuple[float, float, float, float]
"""(re-voiced share, mobile-codec share, handset share, music share) of a shard's renders."""


def _positive_shard(args: tuple[int, int, int, Shares]) -> tuple[np.ndarray, np.ndarray]:
    seed, group_index, count, (share, codec_share, handset_share, music_share) = args
    groups, _near = text.load_keywords()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    babble = build.babble_track(rng, 20.0)
    revoice = revoicer(seed, share)
    recode = recoder(seed, codec_share)
    colour = handsetter(seed, handset_share)
    music = musician(seed, music_share)
    spans = [(0, 3), (3, 7), (7, 12)]
    xs, ys = [], []
    for _ in range(count):
        xs.append(
            build.positive_windows(
                groups[group_index],
                rng,
                nrng,
                babble,
                spans,
                revoice(),
                then(colour(), recode()),
                music(),
            )
        )
        ys += [group_index + 1] * 3
    return np.concatenate(xs).astype(np.float16), np.array(ys, dtype=np.int8)


def _negative_shard(args: tuple[int, int, str, Shares]) -> tuple[np.ndarray, np.ndarray]:
    seed, count, mix_name, (share, codec_share, handset_share, music_share) = args
    _groups, near = text.load_keywords(training=True, confusions=mix_name in MIXES_WITH_CONFUSIONS)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    babble = build.babble_track(rng, 20.0)
    mix = NEGATIVE_MIXES[mix_name]
    kinds = list(mix)
    weights = list(mix.values())
    revoice = revoicer(seed, share)
    recode = recoder(seed, codec_share)
    colour = handsetter(seed, handset_share)
    music = musician(seed, music_share)
    xs = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        pcm, _sentence = build.render_negative(
            kind,
            near,
            rng,
            nrng,
            False,
            babble,
            revoice=revoice(),
            recode=then(colour(), recode()),
            music=music(),
        )
        feats = build.features(pcm)
        ends = np.arange(rng.randint(10, 10 + NEGATIVE_HOP), len(feats) + 8, NEGATIVE_HOP)
        xs.append(windows(feats, np.clip(ends, 0, len(feats) - 1)))
    x = np.concatenate(xs).astype(np.float16)
    return x, np.zeros(len(x), dtype=np.int8)


def shard_jobs(
    seed: int,
    n_groups: int,
    per_group: int,
    negatives: int,
    shard: int,
    mix: str = "templates",
    revoiced: float = 0.0,
    mobile_codec: float = 0.0,
    handset: float = 0.0,
    music: float = 0.0,
) -> tuple[list[tuple[int, int, int, Shares]], list[tuple[int, int, str, Shares]]]:
    """Render jobs for worker processes: (seed, group index, renders, shares) and (seed, utterances, mix
    name, shares), the shares being the re-voiced, the mobile-codec, the handset and the music share.

    Each job has its own seed, so a shard renders the same whichever worker takes it; negative shards
    are four times the size of positive ones.
    """
    pos_jobs = [
        (
            seed + 1000 * gi + k,
            gi,
            min(shard, per_group - k * shard),
            (revoiced, mobile_codec, handset, music),
        )
        for gi in range(n_groups)
        for k in range((per_group + shard - 1) // shard)
    ]
    neg_jobs = [
        (
            seed + 500_000 + k,
            min(shard * 4, negatives - k * shard * 4),
            mix,
            (revoiced, mobile_codec, handset, music),
        )
        for k in range((negatives + shard * 4 - 1) // (shard * 4))
    ]
    return pos_jobs, neg_jobs


def main() -> None:
    """Write OUT/pool.npz (x float16 windows, y labels) from fresh renders."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-group", type=int, default=600, help="positive renders per keyword group")
    ap.add_argument("--negatives", type=int, default=16000, help="negative utterances")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument(
        "--mix", choices=sorted(NEGATIVE_MIXES), default="templates", help="negative kinds (NEGATIVE_MIXES)"
    )
    ap.add_argument(
        "--revoiced",
        type=float,
        default=0.0,
        help="share of renders (positive and negative) re-voiced by the WORLD vocoder (pipeline.revoice)",
    )
    ap.add_argument(
        "--mobile-codec",
        type=float,
        default=0.0,
        help="share of renders (positive and negative) re-coded by a mobile speech codec (pipeline.codec)",
    )
    ap.add_argument(
        "--handset",
        type=float,
        default=0.0,
        help="share of renders (positive and negative) through a random telephone's frequency response "
        "(pipeline.handset), before any mobile codec",
    )
    ap.add_argument(
        "--music",
        type=float,
        default=0.0,
        help="share of renders (positive and negative) with music under the speech as the line's noise "
        "(FluidSynth tunes, pipeline.music_check.training_bed; needs fluidsynth and fluid-soundfont-gm)",
    )
    args = ap.parse_args()
    for name in ("revoiced", "mobile_codec", "handset", "music"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} is a share of the renders: give a number from 0 to 1")
    groups, _near = text.load_keywords()
    pos_jobs, neg_jobs = shard_jobs(
        args.seed,
        len(groups),
        args.per_group,
        args.negatives,
        50,
        args.mix,
        args.revoiced,
        args.mobile_codec,
        args.handset,
        args.music,
    )
    t0 = time.time()
    xs, ys = [], []
    with multiprocessing.Pool(args.workers) as pool:
        for i, (x, y) in enumerate(pool.imap_unordered(_positive_shard, pos_jobs)):
            xs.append(x)
            ys.append(y)
            if i % 10 == 0:
                print(f"positives {i + 1}/{len(pos_jobs)} shards {time.time() - t0:.0f}s", flush=True)
        for i, (x, y) in enumerate(pool.imap_unordered(_negative_shard, neg_jobs)):
            xs.append(x)
            ys.append(y)
            if i % 10 == 0:
                print(f"negatives {i + 1}/{len(neg_jobs)} shards {time.time() - t0:.0f}s", flush=True)
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "pool_x.npy", x)
    np.save(args.out / "pool_y.npy", y)
    meta = {
        "per_group": args.per_group,
        "negative_utterances": args.negatives,
        "negative_mix": NEGATIVE_MIXES[args.mix],
        "revoiced_share": args.revoiced,
        "mobile_codec_share": args.mobile_codec,
        "handset_share": args.handset,
        "music_share": args.music,
        "windows": len(y),
        "positive_windows": int((y > 0).sum()),
        "seconds": round(time.time() - t0),
        "seed": args.seed,
        "front_end_band_hz": list(LINE_BAND_HZ),
    }
    (args.out / "pool.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
