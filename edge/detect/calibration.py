"""Self-calibration: raise a class's thresholds when ordinary calls would exceed a tier's target rate."""

from __future__ import annotations

import bisect
import heapq
import json
import math
import operator
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edge.core.events import Tier

PEAK_FLOOR = 0.2
"""Scores below this (or below the lowest threshold, if lower) are never near a threshold."""
MAX_PEAKS = 2000
"""Highest episode peaks kept per class: enough to place any threshold, bounded memory."""
MAX_LEAD = 8.0
"""The most a lead may be, in odds: a box that has heard a few minutes does not raise a class for a peak
far below its threshold."""


def just_above(peak: float, margin: float = 0.2) -> float:
    """A threshold ``margin`` of the way from ``peak`` to 1: the same step in odds at 0.9 and at 0.999.

    A fixed step would jump far past a peak near 1 (0.999 + 0.01 > 1); training and the box share this rule.
    """
    return 1.0 - (1.0 - peak) * (1.0 - margin)


def _logit(p: float) -> float:
    q = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(q / (1.0 - q))


def times_odds(p: float, factor: float) -> float:
    """The probability whose odds are ``factor`` times those of ``p``."""
    if p >= 1.0:
        return 1.0
    odds = p / (1.0 - p) * factor
    return odds / (1.0 + odds)


class Calibrator:
    """Keeps episode peak scores (never audio) from calls that ended with no staff action.

    A tier's budget is ``target_per_hour`` firings per hour of caller speech, for all classes together.
    A kept peak counts against it when it comes within the tier's lead (``lead``) of its class's shipped
    threshold: a word the site's ordinary speech brings that close in a few hours will cross it on a
    later caller who says it a little more clearly, so the box need not warn a citizen first to learn it.
    The budget lets through the counted peaks that would need the largest raise; every other one is
    silenced with the same lead to spare (and the usual step above it, ``just_above``), never below the
    shipped threshold and never above the ceiling. Peaks are a model's own scores: a state learned with
    another ``model_id`` (a model update, a site's retrained model) is set aside and learning starts again.
    """

    def __init__(
        self,
        shipped: Mapping[Tier, Mapping[str, float]],
        targets: Mapping[Tier, float],
        ceiling: float,
        state_file: Path | None = None,
        enabled: bool = True,
        model_id: str | None = None,
        tail_scales: Mapping[Tier, float] | None = None,
    ) -> None:
        self.model_id = model_id
        self.tail_scales = {tier: (tail_scales or {}).get(tier, 0.0) for tier in shipped}
        self.restarted: str | None = None
        self.shipped = {tier: dict(values) for tier, values in shipped.items()}
        self.targets = dict(targets)
        self.ceiling = ceiling
        self.enabled = enabled
        self.state_file = state_file
        # Episodes must start below every threshold, or a low configured one could never be learned from.
        lowest = (
            times_odds(v, 1.0 / MAX_LEAD if self.tail_scales[t] > 0 else 1.0)
            for t, values in shipped.items()
            for v in values.values()
        )
        self.floor = min([PEAK_FLOOR, *lowest])
        self.speech_h = 0.0
        self.calls = 0
        self.peaks: dict[str, list[float]] = {name: [] for name in self.shipped[Tier.ALERT]}
        self._call_peaks: dict[str, list[float]] = {name: [] for name in self.peaks}
        self._episode: dict[str, float] = {}
        self._aside: set[str] = set()
        """Classes whose current episode was taken for music (set_aside), until their score falls back."""
        self.load_error: str | None = None
        if state_file is not None and state_file.exists():
            self._load(state_file)
        self.thresholds = self._compute()

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            learned_with = data.get("model") if isinstance(data, dict) else None
            if self.model_id is not None and learned_with is not None and learned_with != self.model_id:
                self._set_aside(path, str(learned_with))
                return
            self.speech_h = float(data["speech_h"])
            self.calls = int(data["calls"])
            for name, values in data["peaks"].items():
                if name in self.peaks:
                    self.peaks[name] = sorted((float(v) for v in values), reverse=True)[:MAX_PEAKS]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A bad state file only costs the learned raises; the shipped thresholds still hold.
            self.load_error = f"calibration state {path} ignored: {type(exc).__name__}: {exc}"
            self.speech_h, self.calls = 0.0, 0
            self.peaks = {name: [] for name in self.peaks}

    def _set_aside(self, path: Path, learned_with: str) -> None:
        kept = path.with_name(f"{path.stem}.{learned_with[:12]}{path.suffix}")
        try:
            os.replace(path, kept)
        except OSError as exc:
            kept = path
            self.load_error = f"calibration state {path} of another model not set aside: {exc}"
        self.restarted = (
            f"learning again: the kept peaks were scored by model {learned_with[:12]}, this box runs "
            f"{(self.model_id or '')[:12]} (old state kept as {kept.name})"
        )

    def reset_call(self) -> None:
        """Forget the current call's peaks (call start)."""
        self._call_peaks = {name: [] for name in self.peaks}
        self._episode = {}
        self._aside = set()

    def set_aside(self, names: Iterable[str]) -> None:
        """Drop the open episodes of ``names`` and skip them until their scores fall under the floor: what
        the detector took for music is not the site's speech."""
        for name in names:
            self._episode.pop(name, None)
            self._aside.add(name)

    def observe(self, scores: Mapping[str, float]) -> None:
        """One smoothed score per class; an episode's peak is kept when the score falls back."""
        for name, score in scores.items():
            if name not in self._call_peaks:
                continue
            if name in self._aside:
                if score < self.floor:
                    self._aside.discard(name)
                continue
            if score >= self.floor:
                self._episode[name] = max(score, self._episode.get(name, 0.0))
            elif name in self._episode:
                self._close(name)

    def _close(self, name: str) -> None:
        peaks = self._call_peaks[name]
        peaks.append(self._episode.pop(name))
        if len(peaks) > MAX_PEAKS:
            peaks.sort(reverse=True)
            del peaks[MAX_PEAKS:]

    def end_call(self, staff_acted: bool, caller_speech_s: float) -> None:
        """Learn from a call that ended with no staff action; a call with one is not ordinary, so skip it."""
        for name in list(self._episode):
            self._close(name)
        if self.enabled and not staff_acted and caller_speech_s > 0:
            self.speech_h += caller_speech_s / 3600.0
            self.calls += 1
            for name, new in self._call_peaks.items():
                if new:
                    self.peaks[name] = sorted(self.peaks[name] + new, reverse=True)[:MAX_PEAKS]
            self.thresholds = self._compute()
            self._save()
        self.reset_call()

    def lead(self, tier: Tier) -> float:
        """How far below a threshold, in odds, a peak of the site's speech still counts as a firing.

        Hours of speech show a class's peaks up to about one per hour heard; the target asks about one
        per ``1 / target`` hours. If a class's peaks thin out by e for every ``tail_scale`` in log-odds
        (measured on 8 h streams: 0.5 to 1.8, most near 0.9), the peak that comes once per target period
        lies a factor ``(1 / (target * hours)) ** tail_scale`` above the highest heard so far. The lead is
        that factor, at most ``MAX_LEAD``: large on a new box, 1 (only firings count) once the box has
        heard the target period. A tail scale of 0 counts only firings.
        """
        scale = self.tail_scales[tier]
        if scale <= 0:
            return 1.0
        gap = 1.0 / (self.targets[tier] * max(self.speech_h, 1e-9))
        return min(MAX_LEAD, max(1.0, math.pow(gap, scale)))

    def _compute(self) -> dict[Tier, dict[str, float]]:
        if not self.enabled:
            return {tier: dict(base) for tier, base in self.shipped.items()}
        return {tier: self._tier_thresholds(tier, base) for tier, base in self.shipped.items()}

    def _tier_thresholds(self, tier: Tier, base: dict[str, float]) -> dict[str, float]:
        out = dict(base)
        lead = self.lead(tier)
        # Each class's counted peaks are the head of its list (kept sorted, highest first).
        counted = {
            name: bisect.bisect_right(
                self.peaks.get(name, []), -times_odds(shipped, 1.0 / lead), key=operator.neg
            )
            for name, shipped in base.items()
        }
        let_through = dict.fromkeys(base, 0)

        def head(name: str) -> tuple[float, str]:
            # The class's highest peak not yet let through, keyed so the largest raise pops first.
            return _logit(base[name]) - _logit(self.peaks[name][let_through[name]]), name

        # The budget lets through the peaks that would need the largest raise, highest first: a merge of the
        # classes' heads, so a call's end costs the budget's length, not every kept peak.
        heads = [head(name) for name, k in counted.items() if k]
        heapq.heapify(heads)
        for _ in range(int(self.targets[tier] * self.speech_h)):
            if not heads:
                break
            _raise, name = heapq.heappop(heads)
            let_through[name] += 1
            if let_through[name] < counted[name]:
                heapq.heappush(heads, head(name))
        for name, k in counted.items():
            if let_through[name] < k:
                clear = just_above(times_odds(self.peaks[name][let_through[name]], lead))
                out[name] = max(base[name], min(self.ceiling, clear))
        return out

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {"model": self.model_id, "speech_h": self.speech_h, "calls": self.calls, "peaks": self.peaks}
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.state_file)
        except OSError as exc:
            self.load_error = f"calibration state {self.state_file} not saved: {exc}"

    def state(self) -> dict[str, Any]:
        """Health view: speech hours learned from, every threshold raised above its shipped value, the leads."""
        raised = {
            str(tier): {n: round(v, 4) for n, v in values.items() if v > self.shipped[tier][n]}
            for tier, values in self.thresholds.items()
        }
        return {
            "enabled": self.enabled,
            "speech_h": round(self.speech_h, 3),
            "calls": self.calls,
            "raised": raised,
            "lead": {str(tier): round(self.lead(tier), 3) for tier in self.shipped},
            "restarted": self.restarted,
            "error": self.load_error,
        }
