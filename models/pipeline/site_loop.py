"""The box's learning loop measured end to end: a site's alerts that staff did not act on, kept as sealed clips
by the real detector, opened centrally, and trained on.

The first ``--hours`` of a held-out stream play the site's calls (``--call-s`` each, no staff action). The
model, through the real streaming detector (its frozen thresholds) and the box's ``SealedClipSink``, keeps
a 2 s clip at each detection, sealed to a key made for the run. ``build.load_extra`` opens them with that
key as any central site would (``edge.detect.clips.open_clips``, audited), and their training windows go to
OUT/real.npz (``train.py --real``). The rest of the stream is OUT/later.npz, the site's later calls: the
same sentence types in new renders, which neither the clips nor the thresholds saw (``evaluate.py
--fresh``). Runs in the main venv: ``python -m pipeline.site_loop --stream work/unheard.npz --out
work/site`` from models/.

With ``--abusive``, a held-out set's even-numbered keyword clips are the site's abusive callers: staff act
on each, so what the box caught is kept as confirmed. With ``--staff-after S`` too, staff warn S seconds
after the word ends; where the box caught nothing, it keeps the caller audio before that warning as a
staff-flagged clip, and a person labels it as central would: the export is opened into OUT/export and each
such clip labelled (``lineguard clips label``'s ``label_clip``) with the word and where it ends.
``--more-abusive`` adds another held-out set's keyword clips (rendered with another seed) as more callers of
the site, to see how the gain grows with the clips a site gathers.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from edge.detect.cli import feed
from edge.detect.clips import (
    UNLABELLED,
    ExportResult,
    SealedClipSink,
    label_clip,
    missed_word_hint,
    open_clips,
    source_clips,
    write_training_folders,
)
from edge.detect.detector import AbuseDetector
from edge.detect.features import HOP, N_MELS, WINDOW_FRAMES
from edge.detect.model import KwsModel
from edge.detect.settings import DetectionConfig
from edge.record.seal import generate_keypair, load_private_key
from pipeline import build, text
from pipeline.evaluate import ROOT


def play_calls(detector: AbuseDetector, stream: np.ndarray, call_s: float) -> int:
    """Feed ``stream`` as consecutive calls that end with no staff action; returns the calls played."""
    step = int(call_s * 8000)
    calls = 0
    for start in range(0, stream.size, step):
        detector.reset()
        call = stream[start : start + step]
        for i in range(0, call.size, 8000):
            detector.feed(call[i : i + 8000], i / 8000)
        detector.end_call(staff_acted=False, caller_speech_s=detector.speech_s)
        calls += 1
    return calls


def play_abusive_calls(detector: AbuseDetector, clips: np.ndarray) -> int:
    """Each keyword clip as one call that staff acted on: whatever the box caught is kept as confirmed."""
    for pcm in clips:
        feed(detector, [np.asarray(pcm, np.int16)])  # ends with the same 0.5 s of silence as a flush
        detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
    return len(clips)


def play_flagged_calls(
    detector: AbuseDetector, clips: np.ndarray, ends_s: np.ndarray, groups: np.ndarray, staff_after_s: float
) -> list[tuple[str, float]]:
    """Each keyword clip as a call where staff warn ``staff_after_s`` after the word ends; returns, per
    staff-flagged clip kept (in the order kept), the keyword group and where its word ends in that clip."""
    flagged = []
    window = detector.config.staff_clip_s
    kept = detector.health()["clips"]["staff_flagged"]
    for pcm, end_s, group in zip(clips, ends_s, groups, strict=True):
        detector.reset()
        pcm = np.asarray(pcm, np.int16)
        act = round((float(end_s) + staff_after_s) * 8000)
        call = np.concatenate([pcm, np.zeros(max(0, act - pcm.size), np.int16)])
        detector.feed(call[:act], 0.0)
        detector.staff_acted(act / 8000, "warning")
        detector.feed(np.concatenate([call[act:], np.zeros(4000, np.int16)]), act / 8000)
        detector.end_call(staff_acted=True, caller_speech_s=detector.speech_s)
        # One health read per call (each lists the clips folder): this call's count is the next one's start.
        before, kept = kept, detector.health()["clips"]["staff_flagged"]
        if kept > before:
            clip_end = act // HOP * HOP / 8000  # the detector keeps whole 20 ms frames
            flagged.append((str(group), float(end_s) - max(0.0, clip_end - window)))
    return flagged


def label_flagged(
    box: Path,
    key: Path,
    out: Path,
    flagged: list[tuple[str, float]],
    hinter: AbuseDetector,
    jitter_s: float = 0.0,
) -> dict[str, Any]:
    """Open the box's clips into ``out`` with the export's hints (``hinter``: the box's model) and label each
    staff-flagged one as a person would, marking the word's end up to ``jitter_s`` early or late (uniformly,
    seeded); returns the positives written and how good the hints were against the truth."""
    result = ExportResult()
    opened = open_clips(box, load_private_key(key), box, "site_loop")
    write_training_folders(opened.opened, out, result, lambda wav: missed_word_hint(hinter, wav))
    waiting = sorted((out / UNLABELLED).glob("*.wav"))
    if len(waiting) != len(flagged):
        raise SystemExit(f"{len(waiting)} staff-flagged clips exported, {len(flagged)} expected")
    written, named, errors = 0, 0, []
    rng = np.random.default_rng(7)
    for wav, (group, end_s) in zip(waiting, flagged, strict=True):
        hint = result.hints.get(f"{UNLABELLED}/{wav.name}")
        if hint is not None and hint["keyword"] == group:
            named += 1
            errors.append(hint["end_s"] - end_s)
        marked = float(np.clip(end_s + rng.uniform(-jitter_s, jitter_s), 0.1, sf.info(wav).duration))
        written += len(label_clip(wav, group, [marked], out, "site_loop")[0])
    spread = np.percentile(errors, [10, 50, 90]).round(2).tolist() if errors else None
    return {"labelled": written, "hint_names_word": named, "hint_end_error_s_p10_p50_p90": spread}


def part_of(held: Mapping[str, np.ndarray], chosen: np.ndarray) -> dict[str, np.ndarray]:
    """A held-out set with only its ``chosen`` keyword clips (near-misses and stream as they are)."""
    out = dict(held)
    for k in ("pos_pcm", "pos_group", "pos_start", "pos_end"):
        out[k] = held[k][chosen]
    return out


def recall_set(held: Mapping[str, np.ndarray], chosen: np.ndarray) -> dict[str, np.ndarray]:
    """``part_of`` with only the stream's first minute: a set for recall (pipeline.frozen), not for false
    accepts per hour."""
    out = part_of(held, chosen)
    out["stream"] = held["stream"][: 60 * 8000]
    if "stream_start_s" in held:
        minute = held["stream_start_s"] < 60.0
        out["stream_text"] = held["stream_text"][minute]
        out["stream_start_s"] = held["stream_start_s"][minute]
    return out


def main() -> None:
    """Write OUT/real.npz, OUT/later.npz and OUT/site.json (what was kept and what it became)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kws.tflite", help="model (.json beside)")
    ap.add_argument("--stream", type=Path, required=True, help="a stream .npz from pipeline.build")
    ap.add_argument("--hours", type=float, default=4.0, help="hours of the stream the site's box hears")
    ap.add_argument("--call-s", type=float, default=180.0, help="length of each call")
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="self-calibration on, as on the box: OUT/calibrated/ is the model with the thresholds it learned",
    )
    ap.add_argument(
        "--warn-tail",
        type=float,
        default=DetectionConfig().warn_calibration_tail,
        help="with --calibrate: the caller-warning tier's tail scale (the box's warn_calibration_tail; 0 counts "
        "only warnings given, the rule before 2026-12-07)",
    )
    ap.add_argument(
        "--abusive",
        type=Path,
        default=None,
        help="a held-out set (build.py test.npz): its even-numbered keyword clips are abusive callers of the "
        "site, each a call staff acted on; OUT/held.npz keeps the odd-numbered ones for pipeline.frozen "
        "(OUT/site_half.npz the even ones, to check what a model learned of its own clips)",
    )
    ap.add_argument(
        "--staff-after",
        type=float,
        default=None,
        metavar="S",
        help="with --abusive: staff warn S s after each word; what the box missed is kept staff-flagged and labelled",
    )
    ap.add_argument(
        "--plain",
        type=Path,
        default=None,
        help="with --abusive: the set it was re-voiced from, clip by clip (build.py test.npz); its odd-numbered "
        "clips, the words no site clip was made of, go to OUT/plain_held.npz",
    )
    ap.add_argument(
        "--more-abusive",
        type=Path,
        action="append",
        default=[],
        help="with --abusive: another held-out set (build.py --seed N): all its keyword clips are more abusive "
        "callers of the site, played after the site half; nothing of it is held out",
    )
    ap.add_argument(
        "--label-jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="with --staff-after: the person marks each word's end up to S s early or late",
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.more_abusive and args.abusive is None:
        ap.error("--more-abusive adds callers to an --abusive site: give --abusive too")
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    held = np.load(args.stream, allow_pickle=True)
    stream = held["stream"].astype(np.int16)
    said, said_at = held["stream_text"], held["stream_start_s"].astype(np.float64)
    # The site's part ends at a sentence start, so no sentence is split between the two parts.
    if args.hours * 3600.0 * 8000 >= stream.size:
        cut_s, cut = stream.size / 8000, stream.size
    else:
        cut_s = float(said_at[min(int(np.searchsorted(said_at, args.hours * 3600.0)), len(said_at) - 1)])
        cut = int(cut_s * 8000)
    keys = generate_keypair(args.out / "keys") if not (args.out / "keys").exists() else None
    public = keys.public_path if keys else args.out / "keys" / "central.pub"
    box = args.out / "box"
    sink = SealedClipSink(box, str(public), lambda kind, detail: print(kind, detail))
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        calibration_enabled=args.calibrate,
        calibration_file=args.out / "calibration.json" if args.calibrate else None,
        warn_calibration_tail=args.warn_tail,
        model_path=args.model,
    )
    detector = AbuseDetector(config, KwsModel(args.model), sink)
    calls = play_calls(detector, stream[:cut], args.call_s)
    groups, _near = text.load_keywords()
    flagged: list[tuple[str, float]] = []
    if args.abusive is not None:
        abusive = build.load_set(args.abusive)
        site_half = np.arange(len(abusive["pos_group"])) % 2 == 0
        callers = [part_of(abusive, site_half)]
        callers += [build.load_set(more) for more in args.more_abusive]
        for part in callers:
            if args.staff_after is None:
                calls += play_abusive_calls(detector, part["pos_pcm"])
            else:
                names = np.array([groups[int(i) - 1].id for i in part["pos_group"]])
                flagged += play_flagged_calls(
                    detector, part["pos_pcm"], part["pos_end"], names, args.staff_after
                )
                calls += len(names)
        np.savez(args.out / "held.npz", **part_of(abusive, ~site_half))
        # The site's own callers again, to see whether a model learned the clips it was given at all.
        np.savez(args.out / "site_half.npz", **recall_set(abusive, site_half))
        if args.plain is not None:
            np.savez(args.out / "plain_held.npz", **recall_set(build.load_set(args.plain), ~site_half))
    kept = source_clips(box) if box.exists() else []
    if args.calibrate:
        calibrated = args.out / "calibrated"
        calibrated.mkdir(exist_ok=True)
        meta = json.loads(args.model.with_suffix(".json").read_text(encoding="utf-8"))
        meta["thresholds"] = {str(t): v for t, v in detector.calibrator.thresholds.items()}
        meta["calibration"] = detector.calibrator.state()
        (calibrated / "kws.tflite").write_bytes(args.model.read_bytes())
        (calibrated / "kws.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    key = args.out / "keys" / "central.key"
    labelled: dict[str, Any] = {"labelled": 0}
    if args.staff_after is not None and box.exists():
        quiet = config.model_copy(update={"calibration_enabled": False, "calibration_file": None})
        hinter = AbuseDetector(quiet, KwsModel(args.model))
        labelled = label_flagged(box, key, args.out / "export", flagged, hinter, args.label_jitter)
        clips = build.load_extra(args.out / "export", groups)
    else:
        clips = build.load_extra(box, groups, key)
    empty = (np.zeros((0, WINDOW_FRAMES, N_MELS), np.float16), np.zeros(0, np.int8))
    x, y = build.real_windows(clips) if clips else empty
    np.savez_compressed(args.out / "real.npz", x=x, y=y)
    later = said_at >= cut_s
    if cut < stream.size:
        np.savez(
            args.out / "later.npz",
            stream=stream[cut:],
            stream_text=said[later],
            stream_start_s=said_at[later] - cut_s,
        )
    report = {
        "stream": str(args.stream),
        "model": str(args.model),
        "site_hours": round(cut_s / 3600, 3),
        "later_hours": round((stream.size - cut) / 8000 / 3600, 3),
        "calls": calls,
        "clips_kept": len(kept),
        "by_keyword": dict(sorted(Counter(str((c.label or {}).get("keyword")) for c in kept).items())),
        "by_tier": dict(sorted(Counter(str((c.label or {}).get("tier")) for c in kept).items())),
        "more_abusive": [str(p) for p in args.more_abusive],
        "staff_flagged": len(flagged),
        "staff_flagged_labelled": labelled.pop("labelled"),
        **labelled,
        "clips_for_training": len(clips),
        "calibration": detector.calibrator.state(),
        "real_windows": int(y.size),
        "seconds": round(time.time() - t0),
    }
    (args.out / "site.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
