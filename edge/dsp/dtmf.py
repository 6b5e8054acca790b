"""Streaming DTMF detector to ITU-T Q.24 class figures, with a Goertzel bank sized per tone.

Each of the eight DTMF tones is measured with a DFT bin whose window holds exactly 20 of its cycles
(N = fs / (0.05·f)), plus two guard bins at ±5 %, which fall on the nulls of that window. A tone is
"on frequency" when its nominal bin beats both guard bins: that puts the accept/reject boundary at ±2.5 %,
halfway between Q.24's ±1.5 % accept and ±3.5 % reject, with about 7 dB of margin on either side. A
valid 5 ms hop also needs both tones above the sensitivity floor, twist within +4/−8 dB (with 1 dB margin),
no rival tone in either group, and the two tones carrying most of the signal's power (talk-off guard).
Because the longest window is 29 ms, a 20 ms burst cannot fill it; a digit is reported once its
estimated duration reaches ``min_duration_s`` and after it has been gone for ``pause_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.dsp.filters import StreamingFir, high_pass
from edge.dsp.levels import dbm0_to_power

ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")

_CYCLES_PER_WINDOW = 20.0  # window = 20 cycles, so the ±5 % guard bins sit on its first nulls
_GUARD = 0.05


@dataclass(frozen=True)
class DtmfHit:
    """One DTMF digit, reported once when it ends; times are seconds from the start of the stream."""

    digit: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class DtmfLimits:
    """Acceptance limits of the detector (the Q.24 figures plus the margins this design needs)."""

    min_level_dbm0: float = -45.0
    """Weakest tone accepted: a −35 dBm0 digit with −8 dB twist has its high tone at −43 dBm0."""
    normal_twist_db: float = 9.0
    """How much weaker the high-group tone may be (Q.24: 8 dB; 1 dB margin)."""
    reverse_twist_db: float = 5.0
    """How much stronger the high-group tone may be (Q.24: 4 dB; 1 dB margin)."""
    rival_db: float = 10.0
    """Each tone must beat every other tone of its group by this much."""
    tone_share: float = 0.75
    """Share of the signal's power the two tones must carry; speech rarely concentrates like this."""
    evenness: float = 0.7
    """The two halves of the low tone's window must hold powers within this ratio (steady burst)."""
    min_duration_s: float = 0.0325
    """Shortest digit reported (Q.24: accept ≥ 40 ms, reject ≤ 20 ms)."""
    pause_s: float = 0.050
    """Time without the digit that ends it; bridges a 10 ms break, still separates a 40 ms pause."""


class DtmfDetector:
    """Streaming DTMF detector; ``feed`` any number of samples, get the digits that ended."""

    def __init__(self, sample_rate: int = 8000, limits: DtmfLimits | None = None) -> None:
        if sample_rate < 4000:
            raise ValueError(f"sample rate {sample_rate} Hz is too low for DTMF (needs >= 4000)")
        self.sample_rate = sample_rate
        self.limits = limits or DtmfLimits()
        self._hop = max(1, round(sample_rate * 0.005))
        tones = ROW_HZ + COL_HZ
        self._lengths = np.array([round(sample_rate * _CYCLES_PER_WINDOW / f) for f in tones])
        self._span = int(self._lengths.max())
        self._offsets = np.arange(self._span)
        kernel = np.zeros((self._span, 3 * len(tones)), dtype=np.complex128)
        for k, (freq, length) in enumerate(zip(tones, self._lengths, strict=True)):
            n = np.arange(length)
            for j, factor in enumerate((1.0, 1.0 - _GUARD, 1.0 + _GUARD)):
                kernel[self._span - length :, 3 * k + j] = np.exp(
                    -2j * np.pi * freq * factor * n / sample_rate
                )
        self._kernel = np.concatenate((kernel.real, kernel.imag), axis=1)
        self._scale = 2.0 / np.repeat(self._lengths.astype(np.float64) ** 2, 3)
        self._floor = dbm0_to_power(self.limits.min_level_dbm0)
        self._gate = float(np.sqrt(2.0 * self._floor))
        self._buf = np.zeros(self._span, dtype=np.float64)
        # High-pass ahead of everything: mains hum and DC would otherwise count against the tones' share.
        self._high_pass = StreamingFir(high_pass(sample_rate, 300.0, taps=2 * round(sample_rate * 0.004) + 1))
        self._delay = self._high_pass.delay
        self._pending = np.zeros(0, dtype=np.float64)
        self._hop_end = 0  # absolute index (samples) of the end of the last hop analysed
        self._digit: str | None = None
        self._first_end = 0
        self._last_end = 0
        self._misses = 0
        self._pause_hops = max(1, round(self.limits.pause_s * sample_rate / self._hop))

    def feed(self, pcm: npt.ArrayLike) -> list[DtmfHit]:
        """Consume samples (int16 at ``sample_rate``); return the digits that ended within them."""
        raw = np.asarray(pcm, dtype=np.float64).ravel()
        if raw.size == 0:
            return []
        samples = self._high_pass(raw)
        data = np.concatenate((self._pending, samples))
        hops = data.size // self._hop
        self._pending = data[hops * self._hop :]
        if hops == 0:
            return []
        stream = np.concatenate((self._buf, data[: hops * self._hop]))
        self._buf = stream[-self._span :].copy()
        ends = self._span + self._hop * np.arange(1, hops + 1)
        windows = stream[(ends - self._span)[:, None] + self._offsets]
        digits = self._classify(windows)
        hits: list[DtmfHit | None] = []
        for digit in digits:
            self._hop_end += self._hop
            hits.append(self._track(digit))
        return [hit for hit in hits if hit is not None]

    def flush(self) -> list[DtmfHit]:
        """End of stream: report a digit still sounding, if it is long enough."""
        hit = self._end_digit()
        return [hit] if hit is not None else []

    def _classify(self, windows: npt.NDArray[np.float64]) -> list[str | None]:
        # Two tones each above the floor have a peak above the floor's amplitude: quiet hops cost nothing.
        if float(np.max(np.abs(windows))) < self._gate:
            return [None] * windows.shape[0]
        limits = self.limits
        hops = np.arange(windows.shape[0])
        projected = windows @ self._kernel  # real matrix: cosine and sine halves, so BLAS stays real
        half = projected.shape[1] // 2
        powers = (projected[:, :half] ** 2 + projected[:, half:] ** 2) * self._scale
        nominal = powers[:, 0::3]
        guard = np.maximum(powers[:, 1::3], powers[:, 2::3])
        total = nominal + powers[:, 1::3] + powers[:, 2::3]
        rows = np.argmax(nominal[:, :4], axis=1)
        cols = 4 + np.argmax(nominal[:, 4:], axis=1)
        low, high = total[hops, rows], total[hops, cols]
        ok = (low >= self._floor) & (high >= self._floor)
        ok &= (nominal[hops, rows] > guard[hops, rows]) & (nominal[hops, cols] > guard[hops, cols])
        twist_db = 10.0 * np.log10(np.maximum(high, 1e-12) / np.maximum(low, 1e-12))
        ok &= (twist_db <= limits.reverse_twist_db) & (twist_db >= -limits.normal_twist_db)
        rival = 10.0 ** (limits.rival_db / 10.0)
        ranked_rows, ranked_cols = np.sort(nominal[:, :4], axis=1), np.sort(nominal[:, 4:], axis=1)
        ok &= (ranked_rows[:, -2] * rival <= ranked_rows[:, -1]) & (
            ranked_cols[:, -2] * rival <= ranked_cols[:, -1]
        )
        if not ok.any():
            return [None] * windows.shape[0]
        # Power and evenness over the low tone's own window, for each of the four row window lengths.
        variance = np.empty((windows.shape[0], 4))
        early = np.empty_like(variance)
        late = np.empty_like(variance)
        for r in range(4):
            segment = windows[:, -int(self._lengths[r]) :]
            half = segment.shape[1] // 2
            variance[:, r] = np.var(segment, axis=1)
            early[:, r] = np.var(segment[:, :half], axis=1)
            late[:, r] = np.var(segment[:, half:], axis=1)
        ok &= low + high >= limits.tone_share * variance[hops, rows]
        # A window only partly inside the burst is uneven; requiring evenness keeps the duration honest.
        e, lt = early[hops, rows], late[hops, rows]
        ok &= (e >= limits.evenness * lt) & (lt >= limits.evenness * e)
        return [KEYPAD[r][c - 4] if good else None for r, c, good in zip(rows, cols, ok, strict=True)]

    def _track(self, digit: str | None) -> DtmfHit | None:
        if digit is not None and digit == self._digit:
            self._last_end = self._hop_end
            self._misses = 0
            return None
        if digit is not None:
            ended = self._end_digit()
            self._digit = digit
            self._first_end = self._last_end = self._hop_end
            self._misses = 0
            return ended
        if self._digit is None:
            return None
        self._misses += 1
        if self._misses >= self._pause_hops:
            return self._end_digit()
        return None

    def _end_digit(self) -> DtmfHit | None:
        digit, self._digit = self._digit, None
        self._misses = 0
        if digit is None:
            return None
        row = next(i for i, keys in enumerate(KEYPAD) if digit in keys)
        start = self._first_end - int(self._lengths[row])
        duration = (self._last_end - start) / self.sample_rate
        if duration < self.limits.min_duration_s:
            return None
        start, end = start - self._delay, self._last_end - self._delay
        return DtmfHit(digit, max(0.0, start / self.sample_rate), max(0.0, end / self.sample_rate))
