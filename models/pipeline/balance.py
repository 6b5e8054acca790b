"""The model's reference spectral balance: the mean log-mel frame of voiced training-side speech.

The detector corrects each call towards it (``edge.detect.features.SpectralBalance``), so a caller's
telephone colouring (see ``pipeline.handset``) is taken out before the model. It is measured on utterances
rendered as training renders them (training voices and sentences, the whole line chain), never on a
held-out set, with the detector's own front end and VAD, and written into the model's JSON as
``front_end.speech_mean``: ``python -m pipeline.balance --model kws.tflite`` from models/.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import webrtcvad

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.detect.features import N_MELS, Band, StreamingLogMel
from edge.detect.settings import DetectionConfig
from pipeline import build, text

KINDS = {"ordinary": 0.6, "shuffled": 0.2, "near": 0.2}
"""Training negative kinds the reference is measured on: mostly whole sentences, as callers speak."""


def voiced_frames(pcm: npt.NDArray[np.int16], band: Band | None, vad_mode: int) -> npt.NDArray[np.float32]:
    """The log-mel frames of ``pcm`` that the detector's VAD calls speech, as the detector computes them."""
    frontend = StreamingLogMel(band)
    vad = webrtcvad.Vad(vad_mode)
    out = []
    for i in range(0, pcm.size - 159, 160):
        frame = pcm[i : i + 160]
        features = frontend.push_frame(frame)
        if vad.is_speech(frame.astype("<i2").tobytes(), 8000):
            out.append(features)
    return np.array(out, dtype=np.float32).reshape(-1, N_MELS)


def speech_mean(
    utterances: int = 300, seed: int = 77, band: Band | None = None
) -> tuple[npt.NDArray[np.float64], int]:
    """The mean voiced log-mel frame of ``utterances`` training-side renders, and how many frames it averages."""
    _groups, near = text.load_keywords(training=True)
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    babble = build.babble_track(rng, 20.0)
    vad_mode = DetectionConfig().vad_mode
    frames = []
    for _ in range(utterances):
        kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
        pcm, _sentence = build.render_negative(kind, near, rng, nrng, False, babble)
        frames.append(voiced_frames(pcm, band, vad_mode))
    every = np.concatenate([f for f in frames if f.size])
    return every.mean(axis=0), len(every)


def front_end_entry(band: Band | None, utterances: int = 300, seed: int = 77) -> dict[str, object]:
    """The model JSON's ``front_end`` entries for the reference: the mean and how it was measured."""
    mean, count = speech_mean(utterances, seed, band)
    return {
        "speech_mean": [round(float(v), 4) for v in mean],
        "speech_mean_from": {"utterances": utterances, "seed": seed, "voiced_frames": count},
    }


def main() -> None:
    """Measure the reference and write it into MODEL's JSON (``front_end.speech_mean``)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=Path("kws.tflite"), help="model whose .json gets the mean")
    ap.add_argument("--utterances", type=int, default=300, help="training-side renders to average")
    ap.add_argument("--seed", type=int, default=77)
    args = ap.parse_args()
    meta_path = args.model.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    front_end = meta.setdefault("front_end", {})
    band = tuple(front_end["band_hz"]) if front_end.get("band_hz") else None
    front_end.update(front_end_entry(band, args.utterances, args.seed))  # type: ignore[arg-type]
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(front_end["speech_mean_from"]), flush=True)


if __name__ == "__main__":
    main()
