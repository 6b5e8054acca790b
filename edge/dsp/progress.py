"""Streaming call-progress detector for the line leg: busy, reorder, dial tone, ringback, long silence.

Each 50 ms block is measured at the tone plan's frequencies (a 400-sample DFT resolves 440 from 480 Hz)
and labelled with the frequency pair that carries most of its power, "silent", or nothing. Runs of equal
labels become on/off segments; a cadenced tone is recognised as soon as one on time and the off time next
to it match its cadence (so busy is known about 1 s after it starts, reorder in about 0.5 s, well within the
2 s a far-end hang-up must end the call in), a continuous tone after ``continuous_s`` of it.
Each tone is reported once per episode; an episode ends when its pair is gone for ``episode_gap_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge.dsp.filters import StreamingFir, high_pass
from edge.dsp.levels import dbm0_to_power
from edge.dsp.settings import DspConfig, ToneSpec

ProgressKind = Literal["busy", "reorder", "dial", "ringback", "silence"]
_KINDS: tuple[ProgressKind, ...] = ("busy", "reorder", "dial", "ringback")


@dataclass(frozen=True)
class ProgressEvent:
    """A call-progress tone (or long silence) recognised at ``at_s`` seconds from the stream start."""

    kind: ProgressKind
    at_s: float


@dataclass
class _Segment:
    label: str
    start: int  # block index
    end: int  # block index, exclusive


class CallProgressDetector:
    """Streaming call-progress detector; ``feed`` samples, get the tones recognised within them."""

    BLOCK_S = 0.05
    MIN_TONE_DBM0 = -42.0
    SHARE = 0.6
    continuous_s = 1.0
    episode_gap_s = 3.0

    def __init__(self, sample_rate: int = 8000, config: DspConfig | None = None) -> None:
        self.sample_rate = sample_rate
        self.config = config or DspConfig()
        plan = self.config.tones
        self._specs: dict[ProgressKind, ToneSpec] = {kind: plan.spec(kind) for kind in _KINDS}
        self._block = round(sample_rate * self.BLOCK_S)
        freqs = sorted({f for spec in self._specs.values() for f in spec.freqs_hz})
        self._freqs = freqs
        n = np.arange(self._block)
        kernel = np.exp(-2j * np.pi * np.outer(n, freqs) / sample_rate)
        self._kernel = np.concatenate((kernel.real, kernel.imag), axis=1)
        self._pairs = sorted({self._pair_label(spec) for spec in self._specs.values()})
        self._tone_floor = dbm0_to_power(self.MIN_TONE_DBM0)
        self._silence_floor = dbm0_to_power(self.config.silence_dbm0)
        self._pending = np.zeros(0)
        # Mains hum and DC would count against the tones' share of the power; 350 Hz dial tone must pass.
        self._high_pass = StreamingFir(
            high_pass(sample_rate, 190.0, taps=2 * round(sample_rate * 0.0075) + 1)
        )
        self._blocks = 0
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._reported: dict[str, int] = {}  # kind -> block index of the last supporting segment

    def _pair_label(self, spec: ToneSpec) -> str:
        return "+".join(f"{f:g}" for f in sorted(spec.freqs_hz))

    def feed(self, pcm: npt.ArrayLike) -> list[ProgressEvent]:
        """Consume samples (int16 at ``sample_rate``); return the tones recognised within them."""
        raw = np.asarray(pcm, dtype=np.float64).ravel()
        if raw.size == 0:
            return []
        data = np.concatenate((self._pending, self._high_pass(raw)))
        count = data.size // self._block
        self._pending = data[count * self._block :]
        if count == 0:
            return []
        blocks = data[: count * self._block].reshape(count, self._block)
        labels = self._label(blocks)
        events: list[ProgressEvent] = []
        for label in labels:
            events += self._step(label)
            self._blocks += 1
        return events

    def _label(self, blocks: npt.NDArray[np.float64]) -> list[str]:
        projected = blocks @ self._kernel
        half = projected.shape[1] // 2
        power = 2.0 * (projected[:, :half] ** 2 + projected[:, half:] ** 2) / self._block**2
        variance = np.var(blocks, axis=1)
        labels: list[str] = []
        for i in range(blocks.shape[0]):
            if variance[i] < self._silence_floor:
                labels.append("silent")
                continue
            best, best_share = "", 0.0
            for pair in self._pairs:
                parts = [power[i, self._freqs.index(float(f))] for f in pair.split("+")]
                if min(parts) < self._tone_floor or min(parts) * 10.0 < max(parts):
                    continue
                share = sum(parts) / variance[i]
                if share > best_share:
                    best, best_share = pair, share
            labels.append(best if best_share >= self.SHARE else "other")
        return labels

    def _step(self, label: str) -> list[ProgressEvent]:
        index = self._blocks
        current = self._current
        if current is not None and current.label == label:
            current.end = index + 1
        else:
            if current is not None:
                self._segments.append(current)
                self._segments = self._segments[-8:]
            self._current = current = _Segment(label, index, index + 1)
        return self._recognise(current)

    def _seconds(self, blocks: int) -> float:
        return blocks * self._block / self.sample_rate

    def _fits(self, measured: float, nominal: float) -> bool:
        slack = self.config.tone_tolerance * nominal + 1.2 * self._block / self.sample_rate
        return abs(measured - nominal) <= slack

    def _recognise(self, current: _Segment) -> list[ProgressEvent]:
        now = self._seconds(current.end)
        if current.label == "silent":
            if self._seconds(current.end - current.start) >= self.config.silence_s:
                return self._report("silence", current.start, now)
            return []
        events: list[ProgressEvent] = []
        for kind, spec in self._specs.items():
            pair = self._pair_label(spec)
            if current.label != pair:
                continue
            if not spec.cadence_s:
                if self._seconds(current.end - current.start) >= self.continuous_s:
                    events += self._report(kind, current.start, now)
                continue
            # A new "on" segment has just begun: the last one with this pair, and the gap since, are one cycle.
            if current.end - current.start != 1:
                continue
            previous = [seg for seg in self._segments if seg.label == pair]
            if not previous:
                continue
            on = previous[-1]
            between = [seg.label for seg in self._segments if seg.start >= on.end]
            if any(label not in ("silent", "other") for label in between):
                continue
            on_s, off_s = self._seconds(on.end - on.start), self._seconds(current.start - on.end)
            nominal_on, nominal_off = spec.cadence_s[0], spec.cadence_s[1 % len(spec.cadence_s)]
            if self._fits(on_s, nominal_on) and self._fits(off_s, nominal_off):
                events += self._report(kind, on.start, now)
        return events

    def _report(self, kind: ProgressKind, support_start: int, now: float) -> list[ProgressEvent]:
        last = self._reported.get(kind)
        gap = round(self.episode_gap_s * self.sample_rate / self._block)
        self._reported[kind] = self._blocks
        if last is not None and support_start - last <= gap and self._blocks - last <= gap:
            return []
        return [ProgressEvent(kind, now)]
