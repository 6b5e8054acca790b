"""Build the training windows and the held-out test material from espeak-ng Korean (run in the main venv)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.detect.features import HOP, LINE_BAND_HZ, WINDOW_FRAMES, logmel, windows
from pipeline import audio, text

FRAME_S = HOP / audio.LINE_RATE
Revoice = Callable[[audio.Audio], audio.Audio]
"""A transform of espeak's audio before the line (``revoice.revoice`` with its own random stream)."""
Recode = Callable[[np.ndarray], np.ndarray]
"""A transform of the line's 8 kHz int16 audio (``codec.round_trip`` with its own random stream)."""


def features(pcm: np.ndarray) -> np.ndarray:
    """The front end of the models trained from now on: log-mel after the line band-pass (metadata
    ``front_end.band_hz``), exactly as the detector computes it for such a model."""
    return logmel(pcm, LINE_BAND_HZ)


def render_positive(
    group: text.Group,
    rng: random.Random,
    nrng: np.random.Generator,
    test: bool,
    babble: audio.Audio,
    voice: audio.Voice | None = None,
    band: bool = True,
    revoice: Revoice | None = None,
    recode: Recode | None = None,
    music: audio.Audio | None = None,
):
    """One keyword in a carrier sentence, through the line: (pcm int16 at 8 kHz, keyword end in seconds).

    ``voice`` None draws a shipped voice variant (train or test); the held-out sets always do. ``revoice``
    re-voices the sentence before the line, ``recode`` re-codes the line's audio (both keep the timing, so
    the keyword's times still hold); ``music`` is the line's noise under it (``audio.line_chain``).
    """
    voice = voice or audio.random_voice(rng, test)
    kw = rng.choice(group.say)
    sentence = text.carrier(rng, test) if rng.random() < 0.75 else "{k}"
    prefix = sentence.split("{k}")[0]
    full = audio.speak(sentence.format(k=kw), voice)
    # espeak renders left to right, so the sentence up to the keyword ends where the keyword ends.
    kw_end = audio.voiced_end(audio.speak(prefix + kw, voice))
    kw_start = audio.voiced_end(audio.speak(prefix, voice)) if prefix.strip() else 0.0
    if revoice is not None:
        full = revoice(full)
    speed = 1.0 + rng.uniform(-0.12, 0.12)
    y = audio.to_pcm(audio.line_chain(full, nrng, babble, speed=speed, band=band, music=music))
    return (recode(y) if recode else y), kw_start / speed, kw_end / speed


def positive_windows(
    group: text.Group,
    rng: random.Random,
    nrng: np.random.Generator,
    babble: audio.Audio,
    spans: list[tuple[int, int]],
    revoice: Revoice | None = None,
    recode: Recode | None = None,
    music: audio.Audio | None = None,
) -> np.ndarray:
    """One train-voice render of a keyword, cut into windows ending ``randint(a, b)`` frames after its end."""
    pcm, _start, end = render_positive(
        group, rng, nrng, False, babble, revoice=revoice, recode=recode, music=music
    )
    feats = features(pcm)
    end_frame = round(end / FRAME_S) - 1
    ends = np.array([end_frame + rng.randint(a, b) for a, b in spans])
    return windows(feats, np.clip(ends, 0, len(feats) - 1))


def render_negative(
    kind: str,
    near: list[str],
    rng: random.Random,
    nrng: np.random.Generator,
    test: bool,
    babble,
    voice: audio.Voice | None = None,
    band: bool = True,
    revoice: Revoice | None = None,
    recode: Recode | None = None,
    music: audio.Audio | None = None,
):
    """One non-abusive utterance through the line (``voice`` None: a shipped variant, as for positives)."""
    source = "ordinary" if kind == "shuffled" else kind.removesuffix("_shuffled")
    if kind in text.SENTENCE_SOURCES:
        sentence = text.SENTENCE_SOURCES[kind](rng, test)
    elif kind.endswith("shuffled") and source in text.SENTENCE_SOURCES:
        sentence = text.shuffled(rng, test, source)
    elif kind == "babble":
        sentence = text.babble(rng)
    elif kind == "lexicon":
        sentence = text.word_salad(rng, test)
    else:
        word = text.phonetic_neighbour(rng, test) if kind == "neighbour" else rng.choice(near)
        frame = rng.choice(
            [
                "{w}",
                "{w} 때문에 전화했어요",
                "네 {w} 맞아요",
                "그 {w} 말이에요",
                "{w} 요",
                "아 {w} 그거요",
                "저는 {w} 인데요",
                "혹시 {w} 있나요",
            ]
        )
        sentence = frame.format(w=word)
    voice = voice or audio.random_voice(rng, test)
    spoken = audio.speak(sentence, voice)
    if revoice is not None:
        spoken = revoice(spoken)
    speed = 1.0 + rng.uniform(-0.12, 0.12)
    y = audio.to_pcm(audio.line_chain(spoken, nrng, babble, speed=speed, band=band, music=music))
    return (recode(y) if recode else y), sentence


def load_set(path: Path) -> dict[str, np.ndarray]:
    """A held-out set's arrays, each read once (an ``np.load`` archive reads an array again at every access)."""
    with np.load(path, allow_pickle=True) as data:
        return {k: data[k] for k in data.files}


def transform_set(src: Path, dst: Path, transform: Recode, stream_chunk: int) -> dict[str, int]:
    """Write ``dst``: the held-out set ``src`` with every keyword clip, near-miss and its stream (in calls of
    ``stream_chunk`` samples) passed through ``transform``, in that order; the labels and times are kept, so the
    two sets compare clip by clip. Returns the counts."""
    arrays = load_set(src)
    for key in ("pos_pcm", "near_pcm"):
        if key in arrays:
            clips = np.empty(len(arrays[key]), dtype=object)
            clips[:] = [transform(np.asarray(c, np.int16)) for c in arrays[key]]
            arrays[key] = clips
    if "stream" in arrays:
        stream = arrays["stream"]
        chunks = [transform(stream[i : i + stream_chunk]) for i in range(0, stream.size, stream_chunk)]
        arrays["stream"] = np.concatenate(chunks or [stream[:0]])
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, **arrays)
    return {
        "clips": len(arrays.get("pos_pcm", ())),
        "near": len(arrays.get("near_pcm", ())),
        "stream_samples": int(arrays["stream"].size) if "stream" in arrays else 0,
    }


def babble_track(rng: random.Random, seconds: float) -> audio.Audio:
    """Several voices talking at once, at 16 kHz: the babble noise of the augmentation chain."""
    n = int(seconds * audio.WORK_RATE)
    track = np.zeros(n, dtype=np.float32)
    for _ in range(4):
        pos = 0
        while pos < n:
            x = audio.resample(
                audio.speak(text.babble(rng), audio.random_voice(rng, False)),
                audio.ESPEAK_RATE,
                audio.WORK_RATE,
            )
            track[pos : pos + x.size] += x[: n - pos]
            pos += x.size
    return track


def _line_pcm(x: np.ndarray, rate: int) -> np.ndarray:
    """One channel of a real clip as 8 kHz int16, as the line delivers it."""
    return audio.to_pcm(audio.resample(x, rate, audio.LINE_RATE) if rate != audio.LINE_RATE else x)


def load_extra(
    folder: Path, groups: list[text.Group], key: Path | None = None
) -> list[tuple[np.ndarray, int]]:
    """Real clips as (8 kHz int16 PCM, label 0 or group index + 1).

    Either a folder of labelled WAVs (any rate): ``<folder>/<group id>/*.wav`` are positives (ending
    0.1–0.2 s after the keyword, see ``REAL_POSITIVE_OFFSETS``), ``<folder>/negative/*.wav`` negatives,
    every channel of them (an ordinary call's caller and staff legs both are ordinary speech). Or the box's
    sealed alert clips (a clips folder, a data dir, or a ``clips.fetch`` archive), opened with the central
    private ``key`` and audited by ``edge.detect.clips.open_clips``: alerts staff confirmed are positives of
    their keyword group, alerts they did not act on negatives. A clip ends at its detection, within the
    positive windows' span.
    Staff-flagged clips (``unlabelled/``, no keyword named yet) are skipped until a person labels their
    words with ``lineguard clips label``.
    """
    from edge.detect import clips

    index = {g.id: i + 1 for i, g in enumerate(groups)}
    if clips.is_clip_source(folder):
        return _sealed_extra(folder, index, key)
    out = []
    waiting = 0
    for wav in sorted(folder.glob("*/*.wav")):
        if wav.parent.name == clips.UNLABELLED:
            waiting += 1
            continue
        label = 0 if wav.parent.name == clips.NEGATIVE else index.get(wav.parent.name)
        if label is None:
            print(f"skip {wav}: folder is not a keyword group id or 'negative'", file=sys.stderr)
            continue
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
        legs = range(data.shape[1]) if label == 0 else range(1)
        out += [(_line_pcm(data[:, leg], rate), label) for leg in legs]
    if waiting:
        print(
            f"{folder}: {waiting} staff-flagged clip(s) in {clips.UNLABELLED}/ wait for labels",
            file=sys.stderr,
        )
    return out


REAL_POSITIVE_OFFSETS = (0, 2, 4)
"""Frames before a real positive's end that its training windows end at. A positive ends 0.1–0.2 s after
its keyword (an alert clip at its detection, a labelled one ``LABELLED_AFTER_S`` after the marked end), so
these windows lie inside the 0–12-frame span after the keyword that synthetic positives' windows end in,
and, like theirs, several per clip."""


def real_windows(clips: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of real clips: a few ending near a positive's end, every 8 hops along a negative."""
    xs, ys = [], []
    for pcm, label in clips:
        feats = features(pcm)
        last = len(feats) - 1
        ends = (
            np.array([max(0, last - k) for k in REAL_POSITIVE_OFFSETS])
            if label
            else np.arange(WINDOW_FRAMES // 2, len(feats), 8)
        )
        xs.append(windows(feats, ends))
        ys += [label] * len(ends)
    return np.concatenate(xs).astype(np.float16), np.array(ys, dtype=np.int8)


def write_real(
    extra: list[Path], groups: list[text.Group], key: Path | None, out: Path
) -> tuple[np.ndarray, np.ndarray] | None:
    """The windows of the real clips in ``extra``, also written to out/real.npz (None without any clip)."""
    real = [clip for folder in extra for clip in load_extra(folder, groups, key)]
    if not real:
        return None
    x, y = real_windows(real)
    np.savez_compressed(out / "real.npz", x=x, y=y)
    print(f"real.npz: {len(y)} windows of {len(real)} clips, {int((y > 0).sum())} positive", flush=True)
    return x, y


def _sealed_extra(source: Path, index: dict[str, int], key: Path | None) -> list[tuple[np.ndarray, int]]:
    import io

    from edge.detect import clips
    from edge.record.audit import current_actor
    from edge.record.seal import load_private_key

    if key is None:
        raise SystemExit(f"{source} holds sealed alert clips: pass the central private key with --extra-key")
    audit_dir = clips.default_audit_dir(source) or source
    try:
        opened = clips.open_clips(source, load_private_key(key), audit_dir, current_actor())
    except clips.ClipSourceError as exc:
        raise SystemExit(f"{key}: {exc}") from None
    for stem, why in opened.skipped.items():
        print(f"skip clip {stem}: {why}", file=sys.stderr)
    out = []
    for clip in opened.opened:
        if clip.folder == clips.UNLABELLED:
            print(
                f"skip clip {clip.stem}: staff-flagged, export it and label its words first", file=sys.stderr
            )
            continue
        label = 0 if clip.folder == clips.NEGATIVE else index.get(clip.folder)
        if label is None:
            print(
                f"skip clip {clip.stem}: {clip.folder} is not a keyword group of keywords.toml",
                file=sys.stderr,
            )
            continue
        data, rate = sf.read(io.BytesIO(clip.wav), dtype="float32", always_2d=True)
        out.append((_line_pcm(data[:, 0], rate), label))
    print(f"{source}: {len(out)} sealed clips opened for training", file=sys.stderr)
    return out


def render_stream(
    trng: random.Random,
    tnrng: np.random.Generator,
    seconds_wanted: float,
    babble,
    band: bool,
    kinds: tuple[str, str] = ("ordinary", "shuffled"),
    revoice: Revoice | None = None,
) -> tuple[np.ndarray, list[str], list[float]]:
    """A stream of held-out ordinary speech (3 sentences to 1 of shuffled words, 0.2-1.5 s pauses).

    Returns the int16 PCM, what was said and where it starts (s), so a false accept can be traced to its
    sentence. ``kinds`` are the render_negative kinds for sentences and for shuffled words.
    """
    stream_parts = []
    said: list[str] = []
    said_at: list[float] = []
    seconds = 0.0
    while seconds < seconds_wanted:
        kind = trng.choice([kinds[0], kinds[0], kinds[0], kinds[1]])
        pcm, sentence = render_negative(kind, [], trng, tnrng, True, babble, band=band, revoice=revoice)
        gap = np.zeros(int(trng.uniform(0.2, 1.5) * audio.LINE_RATE), dtype=np.int16)
        stream_parts += [pcm, gap]
        said.append(sentence)
        said_at.append(seconds)
        seconds += (pcm.size + gap.size) / audio.LINE_RATE
    return np.concatenate(stream_parts), said, said_at


STREAM_SETS = {
    "fresh": (300, ("fresh", "fresh_shuffled"), "fresh ordinary speech"),
    "salad": (400, ("lexicon", "lexicon"), "held-out dictionary word salad"),
    "neighbours": (500, ("neighbour", "neighbour"), "held-out phonetic neighbours of the keywords"),
    "everyday": (600, ("everyday", "everyday_shuffled"), "held-out everyday sentence types"),
    "unheard": (700, ("unheard", "unheard_shuffled"), "sentence types kept for a check only"),
    "later": (800, ("later", "later_shuffled"), "sentence types written after the unheard check"),
    "heated": (900, ("heated", "heated_shuffled"), "upset but not abusive callers"),
    "staff": (1000, ("staff", "staff_shuffled"), "what staff say (the line leg's echo of the phone leg)"),
}
"""Stream-only held-out sets: seed offset, the render_negative kinds (sentences, shuffled), what it holds.

fresh.npz: ``text.MORE_TEMPLATES``' held-out half, sentence types no training or threshold choice hears, a
false-accept check independent of the words the dev stream showed to be hard (evaluate.py --fresh).
salad.npz: word salad of the dictionary quarter training never says, pooled into dev so that thresholds
are priced on the sound variety of Korean and not only on dev's 14 sentence types (evaluate.py --dev-extra).
neighbours.npz: dictionary words of that held-out quarter that sound close to a keyword (text.phonetic_neighbour:
변신, 거쳐, 신발 ...) in the near-miss frames, one after another: near misses no list was written for
(evaluate.py --fresh).
everyday.npz: ``text.EVERYDAY_TEMPLATES``' held-out quarter, 58 more sentence types of citizens on the phone
that no training hears; a false-accept check until stage 15, since then pooled into dev for thresholds with
the salad (evaluate.py --dev-extra, the Makefile's DEV_EXTRA).
unheard.npz: ``text.UNHEARD_TEMPLATES``, 80 sentence types for a check only, a false-accept check that stays
unheard when thresholds are priced on the everyday stream too (evaluate.py --fresh).
later.npz: ``text.LATER_TEMPLATES``, 80 sentence types written after the unheard stream was scored: the
clean false-accept check once stage 16 trains on the unheard types and their confusions (evaluate.py --fresh).
heated.npz: ``text.HEATED_TEMPLATES``, 80 sentence types of upset callers who are not abusive (죽겠다, 미치겠다,
열받다 ...), written before anything was scored on them: a check only (pricing.py).
staff.npz: ``text.STAFF_TEMPLATES``, 80 sentence types of what staff say on the phone, written in one go before
anything was scored on them: the line leg carries the staff's voice back as the hybrid's echo, so the detector
hears it on the caller leg. A check only.
"""


def write_stream_set(path: Path, name: str, seed: int, hours: float, babble, band: bool = True) -> None:
    """One of STREAM_SETS, spoken by held-out voices: the stream and what was said where."""
    offset, kinds, what = STREAM_SETS[name]
    stream, said, said_at = render_stream(
        random.Random(seed + offset),
        np.random.default_rng(seed + offset),
        3600.0 * hours,
        babble,
        band,
        kinds,
    )
    np.savez(path, stream=stream, stream_text=np.array(said), stream_start_s=np.array(said_at))
    print(f"{path.name}: {stream.size / 8000 / 3600:.2f} h of {what}", flush=True)


def write_heldout(
    path: Path,
    groups,
    near,
    seed: int,
    scale: float,
    hours: float,
    babble,
    band: bool = True,
    revoice: Revoice | None = None,
) -> None:
    """Held-out material (voices, carriers and sentence templates never trained on) for tuning or testing.

    ``band`` False renders the same material without the line's band-pass (see ``--wideband``); ``revoice``
    re-voices every utterance (see ``--revoiced``). Neither draws from the set's random streams, so each
    renders the same sentences, voices and line conditions as the plain set.
    """
    trng = random.Random(seed)
    tnrng = np.random.default_rng(seed)
    pos_clips = []
    for gi, group in enumerate(groups):
        for _ in range(max(3, int(60 * scale))):
            pcm, start, end = render_positive(group, trng, tnrng, True, babble, band=band, revoice=revoice)
            pos_clips.append({"group": gi + 1, "pcm": pcm, "start": start, "end": end})
    near_clips = [
        render_negative("near", near, trng, tnrng, True, babble, band=band, revoice=revoice)[0]
        for _ in range(max(10, int(300 * scale)))
    ]
    stream, said, said_at = render_stream(trng, tnrng, 3600.0 * scale * hours, babble, band, revoice=revoice)
    pos_pcm = np.empty(len(pos_clips), dtype=object)
    pos_pcm[:] = [c["pcm"] for c in pos_clips]
    near_pcm = np.empty(len(near_clips), dtype=object)
    near_pcm[:] = near_clips
    np.savez(
        path,
        pos_pcm=pos_pcm,
        pos_group=np.array([c["group"] for c in pos_clips]),
        pos_start=np.array([c["start"] for c in pos_clips]),
        pos_end=np.array([c["end"] for c in pos_clips]),
        near_pcm=near_pcm,
        stream=stream,
        stream_text=np.array(said),
        stream_start_s=np.array(said_at),
    )
    print(
        f"{path.name}: {len(pos_clips)} positives, {len(near_clips)} near misses, {stream.size / 8000 / 3600:.2f} h",
        flush=True,
    )


def main() -> None:
    """Write models/work/train.npz and models/work/test.npz."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = the shipped model's data size")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "work")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--heldout-only", action="store_true", help="only (re)write test.npz and dev.npz")
    ap.add_argument(
        "--wideband",
        action="store_true",
        help="with --heldout-only: the same dev/test material without the 300-3400 Hz band-pass "
        "(a wideband VoIP line or a studio recording), to measure the model off its training band",
    )
    ap.add_argument(
        "--revoiced",
        action="store_true",
        help="with --heldout-only: only test.npz, its every utterance re-voiced by the WORLD vocoder "
        "(pipeline.revoice: new melody, tract, tilt, breathiness) and otherwise the same material, to "
        "measure how much the model leans on espeak's own sound",
    )
    ap.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="real clips: a folder of labelled WAVs (<group id>/, negative/), or the box's sealed alert clips "
        "(a clips folder, data dir or clips.fetch archive; needs --extra-key)",
    )
    ap.add_argument(
        "--extra-key", type=Path, default=None, help="central private key that opens sealed --extra clips"
    )
    ap.add_argument(
        "--dev-hours", type=float, default=16.0, help="hours of ordinary-speech stream in dev (thresholds)"
    )
    ap.add_argument("--test-hours", type=float, default=8.0, help="hours of ordinary-speech stream in test")
    for name, (_offset, _kinds, what) in STREAM_SETS.items():
        ap.add_argument(
            f"--{name}-hours",
            type=float,
            default=0.0,
            help=f"also write {name}.npz: this many hours of {what} (see build.STREAM_SETS)",
        )
    ap.add_argument(
        "--streams-only",
        action="store_true",
        help="only write the stream sets whose hours are given (--fresh-hours, --salad-hours, ...)",
    )
    ap.add_argument(
        "--real-only",
        action="store_true",
        help="only write real.npz from the --extra clips (a site's model continues on pools: train.py --real)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    groups, near = text.load_keywords()
    if args.real_only:
        if not args.extra:
            ap.error("--real-only writes the windows of real clips: give them with --extra")
        if write_real(args.extra, groups, args.extra_key, args.out) is None:
            raise SystemExit("no real clip to train on in " + ", ".join(map(str, args.extra)))
        return
    _groups, train_near = text.load_keywords(training=True)
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    t0 = time.time()
    babble_train = babble_track(rng, 60.0 * max(args.scale, 0.1))
    babble_test = babble_track(random.Random(args.seed + 1), 30.0)

    if args.wideband and not (args.heldout_only or args.streams_only):
        ap.error("--wideband renders held-out material only: add --heldout-only or --streams-only")

    def stream_sets(band: bool = True) -> None:
        for name in STREAM_SETS:
            hours = getattr(args, f"{name}_hours")
            if hours > 0:
                write_stream_set(
                    args.out / f"{name}.npz", name, args.seed, hours * args.scale, babble_test, band
                )

    if args.streams_only:
        stream_sets(not args.wideband)
        return
    if args.revoiced:
        if not args.heldout_only:
            ap.error("--revoiced renders the held-out test set only: add --heldout-only")
        from pipeline.revoice import revoice

        vrng = np.random.default_rng(args.seed + 900)
        write_heldout(
            args.out / "test.npz",
            groups,
            near,
            args.seed + 100,
            args.scale,
            args.test_hours,
            babble_test,
            not args.wideband,
            lambda x: revoice(x, vrng),
        )
        return
    if args.heldout_only:
        band = not args.wideband
        for name, offset, hours in (("test", 100, args.test_hours), ("dev", 200, args.dev_hours)):
            write_heldout(
                args.out / f"{name}.npz",
                groups,
                near,
                args.seed + offset,
                args.scale,
                hours,
                babble_test,
                band,
            )
        stream_sets(band)
        return
    xs: list[np.ndarray] = []
    ys: list[int] = []
    n_pos = max(4, int(260 * args.scale))
    for gi, group in enumerate(groups):
        for _ in range(n_pos):
            xs.append(positive_windows(group, rng, nrng, babble_train, [(0, 5), (4, 12)]))
            ys += [gi + 1] * 2
    print(f"positives done {time.time() - t0:.0f}s", flush=True)
    kinds = {
        "ordinary": int(900 * args.scale),
        "shuffled": int(500 * args.scale),
        "babble": int(500 * args.scale),
        "near": int(1000 * args.scale),
    }
    for kind, count in kinds.items():
        for _ in range(max(2, count)):
            pcm, _ = render_negative(kind, train_near, rng, nrng, False, babble_train)
            feats = features(pcm)
            ends = np.arange(rng.randint(10, 20), len(feats) + 8, 12)
            xs.append(windows(feats, np.clip(ends, 0, len(feats) - 1)))
            ys += [0] * len(ends)
    for _ in range(max(2, int(200 * args.scale))):
        n = rng.randint(8000, 16000)
        noise = np.zeros(n, dtype=np.float32) + nrng.standard_normal(n).astype(
            np.float32
        ) * 10 ** rng.uniform(-5, -2)
        feats = features(audio.to_pcm(noise))
        xs.append(windows(feats, np.array([len(feats) - 1])))
        ys.append(0)
    # Apart as well, so that every later stage can show them each epoch (train.py --real): in the
    # pools' millions of windows a site's few hundred would otherwise hardly ever be drawn.
    real = write_real(args.extra, groups, args.extra_key, args.out)
    if real is not None:
        xs.append(real[0])
        ys += [int(v) for v in real[1]]
    x = np.concatenate(xs).astype(np.float16)
    y = np.array(ys, dtype=np.int8)
    np.savez_compressed(args.out / "train.npz", x=x, y=y)
    print(f"train: {len(y)} windows, {int((y > 0).sum())} positive, {time.time() - t0:.0f}s", flush=True)

    write_heldout(
        args.out / "test.npz", groups, near, args.seed + 100, args.scale, args.test_hours, babble_test
    )
    write_heldout(
        args.out / "dev.npz", groups, near, args.seed + 200, args.scale, args.dev_hours, babble_test
    )
    stream_sets()
    held = np.load(args.out / "test.npz", allow_pickle=True)
    pos_clips, near_clips, stream = held["pos_group"], held["near_pcm"], held["stream"]
    meta = {
        "groups": [{"id": g.id, "category": g.category, "say": list(g.say)} for g in groups],
        "near_misses": near,
        "near_misses_train_only": train_near[len(near) :],
        "scale": args.scale,
        "seed": args.seed,
        "train_windows": len(y),
        "train_positive_windows": int((y > 0).sum()),
        "test_positive_clips": len(pos_clips),
        "test_near_miss_clips": len(near_clips),
        "test_stream_s": stream.size / audio.LINE_RATE,
        "train_voices": audio.voices(False),
        "test_voices": audio.voices(True),
        "front_end_band_hz": list(LINE_BAND_HZ),
    }
    (args.out / "data.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"done {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
