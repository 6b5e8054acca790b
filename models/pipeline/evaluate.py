"""Score the int8 model through the real streaming detector; pick per-tier thresholds on dev, report on test.

Runs in the main venv (ai-edge-litert, no TensorFlow). Writes the metadata JSON beside the model, the
evaluation table into MODEL_CARD.md, and the CI fixture WAVs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge.detect.calibration import just_above  # noqa: E402
from edge.detect.detector import AbuseDetector  # noqa: E402
from edge.detect.features import LINE_BAND_HZ  # noqa: E402
from edge.detect.model import KwsModel  # noqa: E402
from edge.detect.settings import DetectionConfig  # noqa: E402

TAIL_S = 0.8
"""Audio after the keyword's end within which a detection counts as a hit."""
REFRACTORY_S = 2.0
VERIFIER_NAME = "kws_verifier.tflite"
CEILING = 0.99995
"""Highest threshold chosen: posteriors are float softmax of int8 logits, resolved far above 0.99."""
# Selection budgets on dev, stricter than the acceptance targets so that test has headroom.
BUDGETS = {
    "alert": {"fa_per_h": 1.0, "near": 0.08, "floor": 0.5},
    "warn": {"fa_per_h": 0.25, "near": 0.025, "floor": 0.7},
}


def write_meta(model: Path, classes: list[dict], alert: dict, warn: dict, extra: dict) -> None:
    """The metadata JSON beside the model (sha256, classes, thresholds, evaluation)."""
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    meta = {
        "version": extra.pop("version", "kws-" + digest[:8]),
        "sha256": digest,
        "sample_rate": 8000,
        "classes": classes,
        "thresholds": {"alert": alert, "warn": warn},
        **extra,
    }
    tmp = model.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, model.with_suffix(".json"))


EVAL_CANDIDATE = 0.05
"""The lowest verifier candidate score tried: evaluation asks the verifier at every hop above it."""
WEIGHTS = (0.3, 0.5, 0.7, 1.0)
CANDIDATES = (0.05, 0.1, 0.2, 0.3, 0.5)


def traces(
    detector: AbuseDetector, pcm: np.ndarray, lead_in: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hop of one clip or stream: times (s), smoothed stage-1 posteriors and verifier posteriors.

    The verifier's rows are NaN where it was not asked (no verifier, or stage 1 below EVAL_CANDIDATE).
    ``lead_in``: audio the same call carried before ``pcm`` (fed, not traced), as a caller talks before a keyword.
    """
    detector.reset()
    if lead_in is not None:
        for i in range(0, lead_in.size - 159, 160):
            detector.feed(lead_in[i : i + 160], (i - lead_in.size) / 8000)
    detector.trace_parts = []
    for i in range(0, pcm.size, 160):
        detector.feed(pcm[i : i + 160], i / 8000)
    width = len(detector.classes) + 1
    parts = detector.trace_parts
    detector.trace_parts = None
    t = np.array([x[0] for x in parts])
    s1 = np.array([x[1] for x in parts]) if parts else np.zeros((0, width))
    v = np.full_like(s1, np.nan)
    for i, (_t, _s, checked) in enumerate(parts):
        if checked is not None:
            v[i] = checked
    return t, s1.astype(np.float32), v.astype(np.float32)


def fuse(s1: np.ndarray, v: np.ndarray, weight: float | None, candidate: float) -> np.ndarray:
    """The detector's scores for one fusion setting (``weight`` None: stage 1 alone, as without a verifier)."""
    if weight is None:
        return s1
    out = np.zeros_like(s1)
    out[:, 0] = s1[:, 0]
    asked = (s1[:, 1:].max(axis=1) >= candidate) & ~np.isnan(v[:, 0]) if len(s1) else np.zeros(0, bool)
    out[asked, 1:] = s1[asked, 1:] ** (1.0 - weight) * v[asked, 1:] ** weight
    return out


def onsets(t: np.ndarray, s: np.ndarray, thr: float) -> list[float]:
    """Times of the rising crossings of thr, with the detector's refractory time."""
    out, last = [], -1e9
    # Only the hops at or above thr can fire: hours of stream are scanned once by numpy, not by Python.
    for ti in t[np.asarray(s) >= thr]:
        if ti - last >= REFRACTORY_S:
            out.append(float(ti))
            last = ti
    return out


def episodes(t: np.ndarray, s: np.ndarray, thr: float) -> int:
    """How many times the detector would fire on thr (rising crossings, refractory time)."""
    return len(onsets(t, s, thr))


def peaks(t: np.ndarray, s: np.ndarray) -> list[float]:
    """Peak score of each episode above 0.05 (for threshold placement)."""
    above = np.asarray(s) >= 0.05
    if not above.any():
        return []
    edges = np.diff(above.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    return [float(v) for v in np.maximum.reduceat(np.asarray(s, dtype=np.float64), starts)]


class View:
    """One held-out set's score traces under one fusion setting (what select and report read)."""

    def __init__(self, m: Material, weight: float | None, candidate: float) -> None:
        self.setting = {"weight": weight, "candidate": candidate}
        self.pos = [(g, end, t, fuse(s1, v, weight, candidate), pcm) for g, end, t, s1, v, pcm in m.pos]
        self.near = []
        for s1, v, pcm in m.near:
            s = fuse(s1, v, weight, candidate)
            self.near.append((s.max(axis=0) if len(s) else np.zeros(s1.shape[1]), pcm))
        self.starts, self.stream, self.hours = m.starts, m.stream, m.hours
        self.spans = spans(m)
        self.stream_t = m.stream_t
        self.stream_s = fuse(m.stream_s1, m.stream_v, weight, candidate)


class Material:
    """Score traces of one held-out set (stage 1 and verifier apart, fused per setting by View)."""

    def __init__(
        self,
        detector: AbuseDetector,
        path: Path,
        n_classes: int,
        lead_in_s: float = 0.0,
        stream_hours: float | None = None,
        call_s: float = 0.0,
    ) -> None:
        data = np.load(path, allow_pickle=True)
        silence = np.zeros(int(TAIL_S * 8000) + 800, dtype=np.int16)
        stream = data["stream"].astype(np.int16)
        lead_ins = lead_in_speech(stream, lead_in_s)
        self.pos = []
        # A stream-only set (build.py STREAM_SETS: fresh, salad, neighbours ...) has no clips: only its stream counts.
        clips = "pos_pcm" in data.files
        self.starts = [float(v) for v in data["pos_start"]] if clips else []
        for pcm, group, end in (
            zip(data["pos_pcm"], data["pos_group"], data["pos_end"], strict=True) if clips else []
        ):
            t, s1, v = traces(detector, np.concatenate([pcm.astype(np.int16), silence]), next(lead_ins))
            self.pos.append((int(group), float(end), t, s1, v, pcm))
        self.near = []
        for pcm in data["near_pcm"] if clips else []:
            _t, s1, v = traces(detector, np.concatenate([pcm.astype(np.int16), silence]), next(lead_ins))
            self.near.append((s1, v, pcm))
        if stream_hours is not None:
            stream = stream[: int(stream_hours * 3600 * 8000)]
        self.stream = stream
        self.hours = stream.size / 8000 / 3600
        self.stream_t, self.stream_s1, self.stream_v = call_traces(detector, stream, call_s)


def call_traces(
    detector: AbuseDetector, stream: np.ndarray, call_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``traces`` of a stream cut into calls of ``call_s`` seconds, each a fresh call of the detector (as
    the box resets it, and its per-call state such as the spectral balance, at every call); 0: one call."""
    n = int(call_s * 8000)
    if n <= 0 or stream.size <= n:
        return traces(detector, stream)
    parts = []
    for start in range(0, stream.size, n):
        t, s1, v = traces(detector, stream[start : start + n])
        parts.append((t + start / 8000, s1, v))
    t, s1, v = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return t, s1, v


def with_audio(m: Material, path: Path) -> Material:
    """A cached Material (no audio kept) given its set's clips and stream again, in the order scored."""
    data = np.load(path, allow_pickle=True)
    m.pos = [
        (g, end, t, s1, v, pcm) for (g, end, t, s1, v, _), pcm in zip(m.pos, data["pos_pcm"], strict=True)
    ]
    m.near = [(s1, v, pcm) for (s1, v, _), pcm in zip(m.near, data["near_pcm"], strict=True)]
    m.stream = data["stream"].astype(np.int16)
    return m


def lead_in_speech(stream: np.ndarray, seconds: float) -> Iterator[np.ndarray | None]:
    """For each clip in turn, ``seconds`` of the set's own stream (ordinary speech through the same line,
    from its first hour, 37 s further on for each clip) to feed before it; None for each when ``seconds`` is 0."""
    n = int(seconds * 8000)
    hour = stream[: 3600 * 8000]
    k = 0
    while True:
        if n <= 0 or hour.size <= n:
            yield None
        else:
            start = (k * 37 * 8000) % (hour.size - n)
            yield hour[start : start + n]
        k += 1


def spans(m: Material) -> list[tuple[float, float]]:
    """Where each set pooled into ``m``'s stream lies in it, in seconds (one span: a single set)."""
    return getattr(m, "spans", None) or [(0.0, m.hours * 3600.0)]


def merged(parts: list[Material]) -> Material:
    """Several held-out sets as one (e.g. dev of two line conditions): clips pooled, streams end to end."""
    if len(parts) == 1:
        return parts[0]
    m = Material.__new__(Material)
    m.pos = [p for part in parts for p in part.pos]
    m.starts = [s for part in parts for s in part.starts]
    m.near = [n for part in parts for n in part.near]
    # By hours, not by PCM: a cached Material (pricing.py) keeps its score traces and no audio.
    offsets = np.cumsum([0.0] + [part.hours * 3600.0 for part in parts[:-1]])
    m.stream = np.concatenate([part.stream for part in parts])
    m.hours = sum(part.hours for part in parts)
    m.spans = [(a + off, b + off) for part, off in zip(parts, offsets, strict=True) for a, b in spans(part)]
    m.stream_t = np.concatenate([part.stream_t + off for part, off in zip(parts, offsets, strict=True)])
    m.stream_s1 = np.concatenate([part.stream_s1 for part in parts])
    m.stream_v = np.concatenate([part.stream_v for part in parts])
    return m


def score_material(
    config: DetectionConfig,
    path: Path,
    n_classes: int,
    lead_in_s: float = 0.0,
    stream_hours: float | None = None,
    call_s: float = 0.0,
) -> Material:
    """One held-out set scored by a fresh streaming detector (runs in a worker process); ``lead_in_s`` of
    the set's own speech before each clip, only ``stream_hours`` of its stream when given, and the stream
    in calls of ``call_s`` seconds (0: one call)."""
    assert config.model_path is not None
    detector = AbuseDetector(config, KwsModel(config.model_path))
    return Material(detector, path, n_classes, lead_in_s, stream_hours, call_s)


class FrozenModel(NamedTuple):
    """A model scored with the thresholds of its own JSON: metadata, class ids, categories, detector settings."""

    meta: dict
    names: list[str]
    categories: list[str]
    config: DetectionConfig


def frozen_model(model: Path) -> FrozenModel:
    """``model`` and the JSON beside it, set up as every scoring script runs the detector (no shouting cue,
    no self-calibration, inference inline)."""
    meta = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    config = DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False, model_path=model)
    classes = meta["classes"]
    return FrozenModel(meta, [c["id"] for c in classes], [c["category"] for c in classes], config)


def emit(out: dict, path: Path | None) -> None:
    """Print one JSON object, and write it to ``path`` as well when one is given."""
    text = json.dumps(out, indent=1, ensure_ascii=False)
    if path:
        path.write_text(text, encoding="utf-8")
    print(text)


TAIL_PEAKS = 40
"""Highest dev-stream peaks per class that the exponential tail is fitted to (a peaks-over-threshold fit)."""
RATE_GRID = np.geomspace(1e-3, 2.0, 60)
"""Expected false accepts per hour a class may be given, from nearly silent to the alert tier's whole budget."""


def logit(p: np.ndarray | float) -> np.ndarray:
    """Log-odds of a posterior (clipped so that 0 and 1 stay finite)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q))


class Tail:
    """Expected false accepts per hour of one class at any threshold, from its dev-stream peaks.

    Counting dev false accepts under-reports: a threshold set just above the highest peak of T hours of
    speech fires about once per T hours on new speech, for every class. Above the K-th highest peak the
    peaks' log-odds are fitted with an exponential tail (measured on an independent 8 h stream: predicted
    4.4 false accepts, counted 3 and 5 for two models), so a rate can be asked for below 1 per T hours.
    """

    def __init__(self, stream_peaks: list[float], hours: float) -> None:
        z = np.sort(logit(np.array(stream_peaks, dtype=np.float64)))[::-1] if stream_peaks else np.zeros(0)
        self.hours = hours
        self.k = min(TAIL_PEAKS, len(z))
        self.z_k = float(z[self.k - 1]) if self.k else 0.0
        self.scale = max(0.05, float(np.mean(z[: self.k] - self.z_k))) if self.k > 1 else 1.0

    def threshold(self, rate_per_h: float) -> float:
        """The threshold with ``rate_per_h`` expected false accepts per hour."""
        if self.k == 0:
            return 0.0
        z = self.z_k + self.scale * np.log(self.k / self.hours / rate_per_h)
        return float(1.0 / (1.0 + np.exp(-z)))


def select(
    dev: View, names: list[str], tier: str, fa_scale: float = 1.0, per_set: bool = False
) -> dict[str, float]:
    """Per-class thresholds that spend the tier's expected false-accept rate where it buys the most recall.

    Each class's rate comes from its fitted tail (`Tail`), not from dev counts. Every class starts nearly
    silent (the lowest rate of RATE_GRID), is raised until the near-miss budget holds, and then the budget
    goes, step by step, to the class and rate step with the most dev recall per unit of rate.
    ``fa_scale`` multiplies the tier's false-accept budget (pricing.py tries stricter ones). With ``per_set``
    a class's rate must hold on every set pooled into dev on its own (its tail fitted on that set alone, the
    highest of those thresholds taken), not only on their hours together: a word one kind of speech says
    often is priced where that kind is, not diluted by the hours of the others.
    """
    b = BUDGETS[tier] | {"fa_per_h": BUDGETS[tier]["fa_per_h"] * fa_scale}
    n = len(names)
    near_budget = int(b["near"] * len(dev.near))
    pieces: list[tuple[np.ndarray | slice, float]] = [(slice(None), dev.hours)]
    if per_set:
        pieces = [
            ((dev.stream_t >= start) & (dev.stream_t < end), (end - start) / 3600.0)
            for start, end in dev.spans
        ]
    tails = [[Tail(peaks(dev.stream_t[k], dev.stream_s[k, i + 1]), h) for k, h in pieces] for i in range(n)]
    near_max = np.array([m[1:] for m, _ in dev.near]) if dev.near else np.zeros((0, n))
    pos_max: list[list[float]] = [[] for _ in range(n)]
    for group, end, t, s, _ in dev.pos:
        window = t <= end + TAIL_S
        pos_max[group - 1].append(float(s[window, group].max()) if window.any() else 0.0)

    def threshold(i: int, step: int) -> float:
        highest = max(tail.threshold(float(RATE_GRID[step])) for tail in tails[i])
        return min(CEILING, max(b["floor"], highest))

    def recall(i: int, thr: float) -> float:
        return float(np.mean([p >= thr for p in pos_max[i]])) if pos_max[i] else 0.0

    def near_fires(vec: np.ndarray) -> int:
        return int((near_max >= vec).any(axis=1).sum()) if len(near_max) else 0

    step = [0] * n
    thr = np.array([threshold(i, 0) for i in range(n)])
    # Raise the class that fires on the most near-misses until the near-miss budget holds.
    while near_fires(thr) > near_budget:
        counts = (near_max >= thr).sum(axis=0)
        worst = int(np.argmax(counts))
        above = sorted((v for v in near_max[:, worst] if v >= thr[worst]), reverse=True)
        thr[worst] = min(CEILING, just_above(above[-1]))
        if thr[worst] >= CEILING:
            break
    spent = float(sum(RATE_GRID[0] for _ in range(n)))
    while True:
        best, best_step, best_ratio = -1, 0, 0.0
        for i in range(n):
            for k in range(step[i] + 1, len(RATE_GRID)):
                cost = float(RATE_GRID[k] - RATE_GRID[step[i]])
                if spent + cost > b["fa_per_h"]:
                    break
                candidate = thr.copy()
                candidate[i] = threshold(i, k)
                # Never below what the near-miss budget demanded.
                if candidate[i] >= thr[i] or near_fires(candidate) > near_budget:
                    continue
                ratio = (recall(i, candidate[i]) - recall(i, thr[i])) / cost
                if ratio > best_ratio:
                    best, best_step, best_ratio = i, k, ratio
        if best < 0:
            break
        spent += float(RATE_GRID[best_step] - RATE_GRID[step[best]])
        step[best] = best_step
        thr[best] = threshold(best, best_step)
    return {name: round(float(thr[i]), 5) for i, name in enumerate(names)}


def report(m: View, names: list[str], categories: list[str], thr: dict[str, float]) -> dict:
    """Recall per category and class, false accepts per hour, near-miss rate, latency on one set."""
    hits_cls: dict[str, list[bool]] = {n: [] for n in names}
    hits_cat: dict[str, list[bool]] = {c: [] for c in set(categories)}
    latencies = []
    vec = np.array([thr[n] for n in names])
    for group, end, t, s, _ in m.pos:
        name, cat = names[group - 1], categories[group - 1]
        fired = s[:, 1:] >= vec if len(s) else np.zeros((0, len(names)), bool)
        window = t <= end + TAIL_S
        same_cat = np.array([c == cat for c in categories])
        hit_rows = np.nonzero(window & fired[:, same_cat].any(axis=1))[0]
        hits_cat[cat].append(bool(hit_rows.size))
        hits_cls[name].append(bool((window & fired[:, group - 1]).any()))
        if hit_rows.size:
            latencies.append(float(t[hit_rows[0]] - end))
    near_fa = sum(bool((mx[1:] >= vec).any()) for mx, _ in m.near)

    def rate(hits: list[bool]) -> float | None:
        # A stream-only set has no clips: no recall, rather than NaN (which is not JSON).
        return round(float(np.mean(hits)), 3) if hits else None

    return {
        "recall_per_category": {c: rate(v) for c, v in sorted(hits_cat.items())},
        "recall_per_class": {n: rate(v) for n, v in hits_cls.items()},
        **stream_report(m, names, thr),
        "near_miss_fa_rate": round(near_fa / max(1, len(m.near)), 4),
        "near_miss_clips": len(m.near),
        "positive_clips": len(m.pos),
        "latency_median_s": round(float(np.median(latencies)), 3) if latencies else None,
        "latency_p90_s": round(float(np.percentile(latencies, 90)), 3) if latencies else None,
    }


def stream_report(m: View, names: list[str], thr: dict[str, float]) -> dict:
    """False accepts of thresholds on one set's stream of ordinary speech: in all, per class, per hour."""
    fa = {n: episodes(m.stream_t, m.stream_s[:, i + 1], thr[n]) for i, n in enumerate(names)}
    return {
        "false_accepts": int(sum(fa.values())),
        "false_accepts_per_class": {n: v for n, v in fa.items() if v},
        "false_accepts_per_hour": round(sum(fa.values()) / m.hours, 3),
        "stream_hours": round(m.hours, 3),
    }


def fresh_report(
    m: Material | None, names: list[str], thresholds: dict, weight, candidate, label: str = "fresh"
) -> dict | None:
    """Both tiers' false accepts on a fresh stream (None without one), printed as they are found."""
    if m is None:
        return None
    out = {t: stream_report(View(m, weight, candidate), names, thresholds[t]) for t in ("alert", "warn")}
    for tier, r in out.items():
        print(
            f"{label} {tier}: FA {r['false_accepts']} in {r['stream_hours']} h {r['false_accepts_per_class']}"
        )
    return out


def more_fresh_reports(
    paths: list[Path], ms: list[Material], names: list[str], thresholds: dict, weight, candidate
) -> dict:
    """fresh_report of every fresh stream after the first, by file stem (neighbours.npz: "neighbours")."""
    return {
        p.stem: fresh_report(m, names, thresholds, weight, candidate, p.stem)
        for p, m in zip(paths, ms, strict=True)
    }


def choose(
    dev: View, names: list[str], categories: list[str], fa_scale: float = 1.0, per_set: bool = False
) -> tuple[dict, dict, dict]:
    """Both tiers' thresholds on dev, their dev report, and the objective (mean dev recall of both tiers)."""
    alert = select(dev, names, "alert", fa_scale, per_set)
    warn = select(dev, names, "warn", fa_scale, per_set)
    warn = {n: max(warn[n], alert[n]) for n in names}
    rep = {"alert": report(dev, names, categories, alert), "warn": report(dev, names, categories, warn)}
    recalls = [v for tier in rep.values() for v in tier["recall_per_category"].values() if v is not None]
    objective = float(np.mean(recalls)) if recalls else 0.0
    return {"alert": alert, "warn": warn}, rep, {"objective": round(objective, 4)}


def trial(
    dev: View,
    test: View,
    names: list[str],
    categories: list[str],
    fa_scale: float = 1.0,
    per_set: bool = False,
) -> tuple[dict, dict]:
    """Thresholds chosen on dev, and a row with the dev objective and both sets' reports per tier."""
    thresholds, dev_rep, score = choose(dev, names, categories, fa_scale, per_set)
    test_rep = {t: report(test, names, categories, thresholds[t]) for t in ("alert", "warn")}
    return thresholds, {**score, "dev": dev_rep, "test": test_rep}


def summary(row: dict) -> str:
    """One line of a trial's row: dev objective, dev warn, test warn (near-miss, latency), test alert."""
    dev, test = row["dev"], row["test"]
    return (
        f"dev objective {row['objective']:.3f};"
        f" dev warn {dev['warn']['recall_per_category']} FA {dev['warn']['false_accepts']};"
        f" test warn {test['warn']['recall_per_category']} FA {test['warn']['false_accepts']}"
        f" near {test['warn']['near_miss_fa_rate']} lat {test['warn']['latency_median_s']};"
        f" test alert {test['alert']['recall_per_category']} FA {test['alert']['false_accepts']}"
    )


def from_shipped(work: Path) -> None:
    """Start from the shipped keyword model: work/kws.tflite, data.json and train.json from models/."""
    shipped = json.loads((ROOT / "models" / "kws.json").read_text(encoding="utf-8"))
    keywords = tomllib.loads((ROOT / "models" / "keywords.toml").read_text(encoding="utf-8"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "kws.tflite").write_bytes((ROOT / "models" / "kws.tflite").read_bytes())
    data = {
        "groups": [{"id": g["id"], "category": g["category"], "say": g["say"]} for g in keywords["group"]]
    }
    data.update(shipped["data"])
    (work / "data.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    (work / "train.json").write_text(json.dumps(shipped["training"], indent=1), encoding="utf-8")


def borrow_thresholds(model: Path, reference: Path, version: str) -> None:
    """Write ``model``'s JSON from ``reference``'s (thresholds, front end, detector settings kept), with its own
    checksum and ``version``: a continued network scored at its parent's thresholds before it is priced."""
    meta = json.loads(reference.read_text(encoding="utf-8"))
    meta["thresholds_from"] = meta["version"]
    meta["version"] = version
    meta["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    model.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    """Evaluate work/kws.tflite (+ a verifier) and write models/kws.tflite + kws.json when --ship."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, default=ROOT / "models" / "work")
    ap.add_argument("--ship", action="store_true", help="copy the model into models/ with its metadata")
    ap.add_argument(
        "--held",
        type=Path,
        nargs="+",
        default=None,
        help="folder(s) of dev.npz/test.npz (default --work); with several (e.g. band-limited and wideband "
        "renders) thresholds are chosen on all their dev sets pooled, the first one's test is the headline "
        "(and the CI fixtures) and every test is reported",
    )
    ap.add_argument("--from-shipped", action="store_true", help="stage 1 is the shipped models/kws.tflite")
    ap.add_argument("--verifier", type=Path, default=None, help="a verifier .tflite (pipeline/train.py)")
    ap.add_argument(
        "--no-band",
        action="store_true",
        help="no band-pass in the front end (as models before kws-20261206 were scored): for comparison",
    )
    ap.add_argument(
        "--thresholds",
        type=Path,
        default=None,
        help="score with the thresholds of this kws.json instead of choosing them on dev (nothing is written "
        "but work/evaluation_fixed.json): how a shipped model fares on other held-out material",
    )
    ap.add_argument(
        "--dev-extra",
        type=Path,
        nargs="*",
        default=[],
        help="stream-only sets (build.py --salad-hours) pooled into dev for threshold choice: more kinds of "
        "ordinary speech for the false-accept tail than dev's sentence types",
    )
    ap.add_argument(
        "--fresh",
        type=Path,
        nargs="*",
        default=[],
        help="stream-only sets no training or threshold choice heard, fresh.npz first (build.py --fresh-hours, "
        "--neighbours-hours): false accepts of the chosen thresholds on them",
    )
    ap.add_argument(
        "--fa-scale",
        type=float,
        default=1.0,
        help="multiply both tiers' false-accept budgets (BUDGETS) by this (pricing.py measures which holds)",
    )
    ap.add_argument(
        "--per-set",
        action="store_true",
        help="price each class's rate on every dev set alone, the highest threshold taken (select per_set)",
    )
    ap.add_argument(
        "--balance-prior",
        type=int,
        default=0,
        help="score and price with the detector's per-call spectral balance at this prior (written into the "
        "model's front_end.balance_prior_frames, which boxes then run); 0: without it",
    )
    ap.add_argument(
        "--balance-dead-zone",
        type=float,
        default=0.0,
        help="with --balance-prior: the balance's dead zone to price and ship with (front_end.balance_dead_zone)",
    )
    ap.add_argument(
        "--lead-in",
        type=float,
        default=0.0,
        help="seconds of each set's own stream fed before every clip, as a caller talks before a keyword",
    )
    ap.add_argument(
        "--call-s",
        type=float,
        default=0.0,
        help="score every stream in calls of this many seconds, each a fresh call of the detector (0: one)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of cached score traces (pricing.py's): a set this network was scored on the same way "
        "is not scored again",
    )
    args = ap.parse_args()
    if args.from_shipped:
        from_shipped(args.work)
    data = json.loads((args.work / "data.json").read_text(encoding="utf-8"))
    train = json.loads((args.work / "train.json").read_text(encoding="utf-8"))
    groups = data["groups"]
    names = [g["id"] for g in groups]
    categories = [g["category"] for g in groups]
    model_path = args.work / "kws.tflite"
    classes = [{"id": g["id"], "category": g["category"], "typical_s": 0.8} for g in groups]
    half = {n: 0.5 for n in names}
    output = train.get("output", "posteriors")
    verifier: dict | None = None
    if args.verifier:
        beside = model_path.with_name(VERIFIER_NAME)
        if args.verifier.resolve() != beside.resolve():
            beside.write_bytes(args.verifier.read_bytes())
        vtrain = json.loads((args.verifier.parent / "train.json").read_text(encoding="utf-8"))
        vdata_path = args.verifier.parent / "data.json"
        verifier = {
            "file": VERIFIER_NAME,
            "sha256": hashlib.sha256(beside.read_bytes()).hexdigest(),
            "window_frames": int(vtrain.get("frames", 100)),
            "candidate": EVAL_CANDIDATE,
            "weight": 0.5,
            "output": vtrain.get("output", "logits"),
            "training": vtrain,
            "data": json.loads(vdata_path.read_text(encoding="utf-8")) if vdata_path.exists() else None,
        }
    front_end: dict[str, object] = {"window_frames": 64, "n_mels": 32, "hop_ms": 20}
    if not args.no_band:
        front_end["band_hz"] = list(LINE_BAND_HZ)
    # The per-call spectral balance's reference (pipeline.balance), so the model is scored as the box runs it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # models/, when run as pipeline/evaluate.py
    from pipeline import balance

    shipped_front = json.loads((ROOT / "models" / "kws.json").read_text(encoding="utf-8"))["front_end"]
    same_network = model_path.read_bytes() == (ROOT / "models" / "kws.tflite").read_bytes()
    if (
        same_network
        and "speech_mean" in shipped_front
        and shipped_front.get("band_hz") == front_end.get("band_hz")
    ):
        # The shipped network re-priced: its own reference (the same 300 renders; measuring again takes a minute).
        front_end.update({k: shipped_front[k] for k in ("speech_mean", "speech_mean_from")})
    else:
        front_end.update(balance.front_end_entry(None if args.no_band else LINE_BAND_HZ))
    if args.balance_prior > 0:
        front_end["balance_prior_frames"] = args.balance_prior
        if args.balance_dead_zone > 0:
            front_end["balance_dead_zone"] = args.balance_dead_zone
    write_meta(
        model_path, classes, half, half, {"output": output, "verifier": verifier, "front_end": front_end}
    )
    config = DetectionConfig(
        inline=True, shouting_enabled=False, calibration_enabled=False, model_path=model_path
    )
    t0 = time.time()
    held = args.held or [args.work]
    # Dev and test are scored in two processes (each its own detector): the streams are hours long.
    paths = [h / f"{split}.npz" for split in ("dev", "test") for h in held] + [*args.dev_extra, *args.fresh]
    with multiprocessing.Pool(2) as pool:
        if args.cache is None:
            jobs = [(config, p, len(names), args.lead_in, None, args.call_s) for p in paths]
            scored = pool.starmap(score_material, jobs, chunksize=1)
        else:
            from pipeline.pricing import cached_material

            cached = [(config, p, len(names), args.cache, args.lead_in, args.call_s) for p in paths]
            scored = pool.starmap(cached_material, cached, chunksize=1)
            # The cache keeps no audio; the tests' is read again (the CI fixtures are cut from the first).
            for i, h in enumerate(held):
                with_audio(scored[len(held) + i], h / "test.npz")
    fresh_ms = [scored.pop() for _ in args.fresh][::-1]
    fresh_m = fresh_ms[0] if fresh_ms else None
    dev_m = merged(scored[: len(held)] + scored[2 * len(held) :])
    tests = {str(h): m for h, m in zip(held, scored[len(held) : 2 * len(held)], strict=True)}
    test_m = scored[len(held)]
    scored_s = time.time() - t0
    if args.thresholds:
        fixed = json.loads(args.thresholds.read_text(encoding="utf-8"))["thresholds"]
        sets = {"dev": dev_m} | {f"test {h}": m for h, m in tests.items()}
        out = {
            split: {
                tier: report(View(m, None, 0.0), names, categories, fixed[tier]) for tier in ("alert", "warn")
            }
            for split, m in sets.items()
        }
        out["fresh"] = fresh_report(fresh_m, names, fixed, None, 0.0)
        out["more_fresh"] = more_fresh_reports(args.fresh[1:], fresh_ms[1:], names, fixed, None, 0.0)
        out["front_end"] = front_end
        (args.work / "evaluation_fixed.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
        for split in sets:
            for tier in ("alert", "warn"):
                r = out[split][tier]
                print(
                    f"{split} {tier}: recall {r['recall_per_category']} FA {r['false_accepts']} in "
                    f"{r['stream_hours']} h, near {r['near_miss_fa_rate']}, latency {r['latency_median_s']}",
                    flush=True,
                )
        return
    typical = {}
    for i, name in enumerate(names):
        lengths = [
            end - start for (g, end, *_), start in zip(dev_m.pos, dev_m.starts, strict=True) if g == i + 1
        ]
        typical[name] = round(float(np.median(lengths)) if lengths else 0.8, 2)
    for c in classes:
        c["typical_s"] = min(typical[c["id"]], 1.5)
    # Fusion settings are chosen on dev alone (stage 1 alone is one of the candidates); test is reported.
    settings: list[tuple[float | None, float]] = [(None, 0.0)]
    if verifier:
        settings += [(w, c) for w in WEIGHTS for c in CANDIDATES]
    tried = []
    best = None
    for weight, candidate in settings:
        dev, test = View(dev_m, weight, candidate), View(test_m, weight, candidate)
        thresholds, row = trial(dev, test, names, categories, args.fa_scale, args.per_set)
        row = {"weight": weight, "candidate": candidate, **row}
        tried.append(row)
        print(f"weight {weight} candidate {candidate}: {summary(row)}", flush=True)
        if best is None or row["objective"] > best[0]:
            best = (row["objective"], weight, candidate, thresholds, dev, test, row["dev"], row["test"])
    assert best is not None
    _obj, weight, candidate, thresholds, dev, test, dev_rep, test_rep = best
    alert, warn = thresholds["alert"], thresholds["warn"]
    by_held = {
        h: {
            tier: report(View(m, weight, candidate), names, categories, thresholds[tier])
            for tier in ("alert", "warn")
        }
        for h, m in tests.items()
    }
    for h, rep in by_held.items():
        print(f"test {h}: " + summary({"objective": best[0], "dev": dev_rep, "test": rep}), flush=True)
    evaluation = {
        "dev": dev_rep,
        "dev_sets": [str(h) for h in held] + [str(p) for p in args.dev_extra],
        "test": test_rep,
        "test_by_held": by_held if len(held) > 1 else None,
        "fresh": fresh_report(fresh_m, names, thresholds, weight, candidate),
        "fresh_set": str(args.fresh[0]) if args.fresh else None,
        "more_fresh": more_fresh_reports(args.fresh[1:], fresh_ms[1:], names, thresholds, weight, candidate),
        "scoring_seconds": round(scored_s, 1),
        "fusion_tried": [
            {k: row[k] for k in ("weight", "candidate", "objective")}
            | {
                f"{split}_{tier}": {
                    "recall": row[split][tier]["recall_per_category"],
                    "false_accepts": row[split][tier]["false_accepts"],
                    "hours": row[split][tier]["stream_hours"],
                    "near_miss_fa_rate": row[split][tier]["near_miss_fa_rate"],
                }
                for split in ("dev", "test")
                for tier in ("alert", "warn")
            }
            for row in tried
        ],
    }
    if verifier is not None:
        if weight is None:
            print("the verifier did not pay on dev: shipping stage 1 alone", flush=True)
            verifier = None
        else:
            verifier.update(weight=weight, candidate=candidate)
    extra = {
        # Date and UTC time: two models shipped on one day (stages 12 and 13 were) must not share a name.
        "version": f"kws-{time.strftime('%Y%m%d-%H%M', time.gmtime())}",
        "output": output,
        "front_end": front_end,
        "detector": {"hop_frames": config.hop_frames, "smoothing_hops": config.smoothing_hops},
        "verifier": verifier,
        "threshold_rule": {
            "scoring": {
                "balance_prior_frames": args.balance_prior,
                "balance_dead_zone": args.balance_dead_zone if args.balance_prior > 0 else 0.0,
                "lead_in_s": args.lead_in,
                "call_s": args.call_s,
            },
            "tail_peaks": TAIL_PEAKS,
            "budgets": BUDGETS,
            "fa_scale": args.fa_scale,
            "per_set": args.per_set,
        },
        "data": {k: v for k, v in data.items() if k not in ("groups",)},
        "training": train,
        "evaluation": evaluation,
    }
    write_meta(model_path, classes, alert, warn, dict(extra))
    print(json.dumps({"alert": alert, "warn": warn, "verifier": weight is not None}, indent=1))
    print(json.dumps(evaluation["test"], indent=1, ensure_ascii=False))
    if args.ship:
        shipped = ROOT / "models" / "kws.tflite"
        # New files renamed over the old ones: a box or soak running on the old model keeps its copy. The
        # verifier goes first: the metadata that names it is written last.
        if verifier is not None:
            vtmp = shipped.with_name(VERIFIER_NAME + ".tmp")
            vtmp.write_bytes(model_path.with_name(VERIFIER_NAME).read_bytes())
            os.replace(vtmp, shipped.with_name(VERIFIER_NAME))
        tmp = shipped.with_suffix(".tflite.tmp")
        tmp.write_bytes(model_path.read_bytes())
        os.replace(tmp, shipped)
        write_meta(shipped, classes, alert, warn, dict(extra))
        alone = scored_alone(AbuseDetector(config, KwsModel(model_path)), weight, candidate)
        write_fixtures(test, names, categories, warn, alone)
        print(f"shipped {shipped}")


def scored_alone(
    detector: AbuseDetector, weight: float | None, candidate: float
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Times and fused scores of a clip heard alone in a new call, as CI and `lineguard kws` play a WAV."""

    def score(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, s1, v = traces(detector, pcm)
        return t, fuse(s1, v, weight, candidate)

    return score


def write_fixtures(
    test: View,
    names: list[str],
    categories: list[str],
    warn: dict,
    from_silence: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    out: Path = ROOT / "tests" / "fixtures" / "kws",
) -> None:
    """A few held-out clips for CI: detected positives of each category, an ordinary clip, a near miss.

    A positive is judged on ``from_silence`` (``scored_alone``) of the very WAV written: times and fused
    scores of a new call, as CI plays it (the set may have been scored with speech before each clip).
    """
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.wav"):
        stale.unlink()
    expected = {}
    vec = np.array([warn[n] for n in names])
    for cat in sorted(set(categories)):
        for group, end, _t, scored, pcm in test.pos:
            # Clearly above: half-way from the threshold to 1 in odds.
            threshold = just_above(warn[names[group - 1]], 0.5)
            if categories[group - 1] != cat or not len(scored) or not (scored[:, group] >= threshold).any():
                continue
            wav = np.concatenate([pcm.astype(np.int16), np.zeros(6400, np.int16)])
            t, s = from_silence(wav)
            strong = np.nonzero(s[:, group] >= threshold)[0]
            # A clear, timely hit of one class only: CI must not hinge on a score at a threshold's edge.
            if strong.size and -0.2 <= t[strong[0]] - end <= 0.4 and (s[:, 1:] >= vec).any(axis=0).sum() == 1:
                name = f"{cat}_{names[group - 1]}.wav"
                sf.write(out / name, wav, 8000, subtype="PCM_16")
                expected[name] = {
                    "keyword": names[group - 1],
                    "category": cat,
                    "keyword_end_s": round(end, 3),
                }
                break
    for mx, pcm in test.near:
        if (mx[1:] < vec - 0.2).all():
            sf.write(out / "near_miss.wav", pcm.astype(np.int16), 8000, subtype="PCM_16")
            expected["near_miss.wav"] = None
            break
    seg = test.stream_s[:, 1:].max(axis=1)
    for start in range(0, len(seg) - 120, 50):
        if (seg[start : start + 120] < 0.5).all():
            t0 = test.stream_t[start]
            pcm = test.stream[int(t0 * 8000) : int((t0 + 12.0) * 8000)]
            sf.write(out / "ordinary.wav", pcm.astype(np.int16), 8000, subtype="PCM_16")
            expected["ordinary.wav"] = None
            break
    (out / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
