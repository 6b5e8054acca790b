"""``lineguard kws FILE.wav``: run the shipped keyword spotter over a recording and list what it hears."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.cli import CommonParsers, UserError, print_json, recording
from edge.config import ConfigError, load_config, resolve_config_path
from edge.core.events import SCORE_DECIMALS, Tier
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.ports import SAMPLE_RATE


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add the ``kws`` subcommand."""
    p = subparsers.add_parser(
        "kws",
        parents=[common.state, common.report],
        help="list the abusive keywords the detector hears in a WAV file",
        description="Run the abuse detector over a recording as if it were the caller leg, with the configured "
        "thresholds. A mono 16-bit WAV at any sample rate is the expected input; any other WAV, FLAC or Ogg "
        "file is read too (one channel of it with --channel), block by block, so long recordings are fine.",
    )
    p.add_argument("file", metavar="FILE.wav", help="mono 16-bit PCM WAV, any sample rate")
    p.add_argument(
        "--channel", type=int, default=None, help="channel to use in a multi-channel file (1 = first)"
    )
    p.add_argument(
        "--tier",
        choices=["warn", "alert"],
        default="warn",
        help="warn: only detections confident enough to warn the caller (default); alert: staff alerts too",
    )
    p.set_defaults(handler=_kws)


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


def scan(
    detector: AbuseDetector, pcm: npt.NDArray[np.int16] | Iterable[npt.NDArray[np.int16]], tier: Tier
) -> list[dict[str, Any]]:
    """Feed a recording (whole, or in blocks of any size) in 20 ms frames; the detections at or above ``tier``."""
    feed(detector, [pcm] if isinstance(pcm, np.ndarray) else pcm)
    return detections_at(detector, tier)


def detections_at(detector: AbuseDetector, tier: Tier) -> list[dict[str, Any]]:
    """What ``detector`` has detected so far at or above ``tier``, as the command reports it."""
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
                "score": round(d.event.score, SCORE_DECIMALS),
            }
        )
    return out


def feed(detector: AbuseDetector, blocks: Iterable[npt.NDArray[np.int16]]) -> int:
    """Reset ``detector`` and feed it a recording block by block (it cuts them into 20 ms frames); samples fed."""
    detector.reset()
    fed = 0
    for block in blocks:
        detector.feed(block, fed / SAMPLE_RATE)
        fed += block.size
    # Flush the tail so a keyword at the very end still gets its smoothing hops.
    detector.feed(np.zeros(SAMPLE_RATE // 2, dtype=np.int16), fed / SAMPLE_RATE)
    return fed


def _kws(args: argparse.Namespace) -> int:
    path = Path(args.file)
    blocks = recording(path, args.channel)  # a file it cannot read is reported before the model loads
    detector, error = load_detector(detection_config(args))
    if detector is None:
        raise UserError(error or "the detector could not be loaded.")
    try:
        samples = feed(detector, blocks)
        detections = detections_at(detector, Tier(args.tier))
    finally:
        detector.close()
    audio_s = samples / SAMPLE_RATE
    # What the VAD took for speech: the false-accept targets are per hour of speech, not of recording.
    speech_s = detector.speech_s
    if args.json:
        print_json(
            {
                "audio_s": round(audio_s, 3),
                "speech_s": round(speech_s, 2),
                "music_vetoes": detector.tonal_vetoes,
                "detections": detections,
            }
        )
    else:
        print(
            f"{path}: {audio_s:.1f} s ({speech_s:.1f} s of speech), "
            f"{len(detections)} detection(s) at tier {args.tier}"
            + (f", {detector.tonal_vetoes} candidate(s) taken for music" if detector.tonal_vetoes else "")
        )
        for d in detections:
            print(
                f"  {d['start_s']:7.2f}-{d['end_s']:7.2f} s  {d['category']:<9} {d['keyword']:<10} {d['score']:.3f} {d['tier']}"
            )
    return 0
