"""``lineguard kws FILE.wav``: run the shipped keyword spotter over a recording and list what it hears."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.audio import USABLE_RATES, resample
from edge.cli import CommonParsers, UserError, print_json
from edge.config import ConfigError, load_config, resolve_config_path
from edge.core.events import Tier
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.ports import SAMPLE_RATE


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add the ``kws`` subcommand."""
    p = subparsers.add_parser(
        "kws",
        parents=[common.state, common.report],
        help="list the abusive keywords the detector hears in a WAV file",
        description="Run the abuse detector over a mono 16-bit WAV file (any sample rate) as if it were the "
        "caller leg, with the configured thresholds.",
    )
    p.add_argument("file", metavar="FILE.wav", help="mono 16-bit PCM WAV, any sample rate")
    p.add_argument(
        "--tier",
        choices=["warn", "alert"],
        default="warn",
        help="warn: only detections confident enough to warn the caller (default); alert: staff alerts too",
    )
    p.set_defaults(handler=_kws)


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    """A mono 16-bit WAV at 8 kHz; UserError for anything else."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError) as exc:
        raise UserError(f"{path} is not a readable WAV file ({exc}).") from None
    if info.format != "WAV" or info.subtype != "PCM_16" or info.channels != 1:
        raise UserError(
            f"{path} is {info.format} {info.subtype} with {info.channels} channel(s); "
            "give a mono 16-bit PCM WAV (e.g. sox in.wav -c 1 -b 16 out.wav)."
        )
    if info.samplerate not in USABLE_RATES:
        raise UserError(f"{path} has a sample rate of {info.samplerate} Hz; give a WAV at 4-384 kHz.")
    data, rate = sf.read(str(path), dtype="int16", always_2d=False)
    if rate == SAMPLE_RATE:
        return np.asarray(data, dtype=np.int16)
    out = resample(np.asarray(data, dtype=np.float64), int(rate), SAMPLE_RATE)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def detection_config(args: argparse.Namespace) -> DetectionConfig:
    """The [detection] section of the chosen config, made deterministic for a file."""
    path = resolve_config_path(args.config)
    section = DetectionConfig()
    if path is not None:
        try:
            section = load_config(path).detection
        except ConfigError as error:
            raise UserError(f"{error.source}: " + "; ".join(error.problems)) from None
    return section.model_copy(update={"inline": True, "shouting_enabled": False})


def scan(detector: AbuseDetector, pcm: npt.NDArray[np.int16], tier: Tier) -> list[dict[str, Any]]:
    """Feed a whole recording in 20 ms frames; the detections at or above ``tier``."""
    detector.reset()
    for start in range(0, pcm.size, 160):
        detector.feed(pcm[start : start + 160], start / SAMPLE_RATE)
    # Flush the tail so a keyword at the very end still gets its smoothing hops.
    detector.feed(np.zeros(SAMPLE_RATE // 2, dtype=np.int16), pcm.size / SAMPLE_RATE)
    out = []
    for d in detector.detections:
        if tier is Tier.WARN and d.event.tier is not Tier.WARN:
            continue
        out.append(
            {
                "keyword": d.event.keyword,
                "category": str(d.event.category),
                "tier": str(d.event.tier),
                "start_s": round(d.start_s, 2),
                "end_s": round(d.t, 2),
                "score": round(d.event.score, 3),
            }
        )
    return out


def _kws(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    pcm = read_wav(path)
    detector, error = load_detector(detection_config(args))
    if detector is None:
        raise UserError(error or "the detector could not be loaded.")
    try:
        detections = scan(detector, pcm, Tier(args.tier))
    finally:
        detector.close()
    if args.json:
        print_json({"audio_s": round(pcm.size / SAMPLE_RATE, 3), "detections": detections})
    else:
        print(f"{path}: {pcm.size / SAMPLE_RATE:.1f} s, {len(detections)} detection(s) at tier {args.tier}")
        for d in detections:
            print(
                f"  {d['start_s']:7.2f}-{d['end_s']:7.2f} s  {d['category']:<9} {d['keyword']:<10} {d['score']:.3f} {d['tier']}"
            )
    return 0
