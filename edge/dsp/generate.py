"""Signal generators: cadenced call-progress tones, the staff alert, FSK caller ID, DTMF, level scaling."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from edge.dsp.callerid import BAUD, FSK_TONES, build_message
from edge.dsp.dtmf import COL_HZ, KEYPAD, ROW_HZ
from edge.dsp.levels import dbm0, dbm0_to_amplitude, to_pcm
from edge.dsp.settings import TonePlan, ToneSpec
from edge.ports import FRAME_SAMPLES, SAMPLE_RATE, Pcm


def scale_to_dbm0(pcm: npt.ArrayLike, level: float) -> Pcm:
    """``pcm`` scaled so its mean level is ``level`` dBm0 (clipped to 16 bits; silence stays silent)."""
    samples = np.asarray(pcm, dtype=np.float64)
    current = dbm0(samples)
    if current <= -119.0:
        return to_pcm(samples)
    return to_pcm(samples * 10.0 ** ((level - current) / 20.0))


class ToneSource:
    """A streaming, phase-continuous, cadenced tone: ``next_frame()`` gives the next 20 ms."""

    def __init__(
        self,
        kind: str,
        plan: TonePlan | None = None,
        sample_rate: int = SAMPLE_RATE,
        frame_samples: int = FRAME_SAMPLES,
    ) -> None:
        self.kind = kind
        self.spec: ToneSpec = (plan or TonePlan()).spec(kind)
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples
        self._amplitude = dbm0_to_amplitude(self.spec.level_dbm0)
        self._w = 2 * np.pi * np.array(self.spec.freqs_hz) / sample_rate
        self._n = 0
        edges = np.cumsum([round(t * sample_rate) for t in self.spec.cadence_s])
        self._edges = edges.astype(np.int64)
        self._period = int(edges[-1]) if edges.size else 0

    @property
    def done(self) -> bool:
        """A one-shot tone (``repeat = false``) has played out."""
        return not self.spec.repeat and self._period > 0 and self._n >= self._period

    def next_frame(self, samples: int | None = None) -> Pcm:
        """The next ``samples`` (default one frame) of the tone; silence once a one-shot tone is over."""
        count = self.frame_samples if samples is None else samples
        n = self._n + np.arange(count, dtype=np.int64)
        self._n += count
        tone = np.zeros(count)
        for w in self._w:
            # Phase from the absolute sample index: continuous across frames, exact enough for days.
            tone += np.sin(w * n)
        tone *= self._amplitude
        if self._period:
            where = n % self._period if self.spec.repeat else n
            slot = np.searchsorted(self._edges, where, side="right")
            tone[slot % 2 == 1] = 0.0
            tone[where >= self._period] = 0.0
        return to_pcm(tone)


def _when_text(when: dt.datetime | str | None) -> str | None:
    if when is None or isinstance(when, str):
        return when
    return when.strftime("%m%d%H%M")


def fsk_bits(
    message: bytes, seizure_bits: int = 300, mark_bits: int = 180, trailer_bits: int = 5
) -> list[int]:
    """The bit stream of one caller-ID transmission: channel seizure (0101…), marks, bytes as 8N1, marks."""
    bits = [i % 2 for i in range(seizure_bits)] + [1] * mark_bits
    for byte in message:
        bits += [0] + [(byte >> k) & 1 for k in range(8)] + [1]
    return bits + [1] * trailer_bits


def fsk_modulate(
    bits: list[int], standard: str = "bell202", level_dbm0: float = -13.0, sample_rate: int = SAMPLE_RATE
) -> Pcm:
    """Continuous-phase FSK of ``bits`` at 1200 baud with the standard's mark/space tones."""
    if standard not in FSK_TONES:
        raise ValueError(f"unknown FSK standard {standard!r}; use 'bell202' or 'v23'")
    mark, space = FSK_TONES[standard]
    count = int(np.ceil(len(bits) * sample_rate / BAUD))
    index = np.minimum((np.arange(count) * BAUD / sample_rate).astype(np.int64), len(bits) - 1)
    freq = np.where(np.asarray(bits)[index] == 1, mark, space)
    phase = np.cumsum(2 * np.pi * freq / sample_rate)
    return to_pcm(dbm0_to_amplitude(level_dbm0) * np.sin(phase))


def callerid_fsk(
    number: str | None,
    name: str | None = None,
    when: dt.datetime | str | None = None,
    standard: str = "bell202",
    fmt: str = "mdmf",
    level_dbm0: float = -13.0,
    sample_rate: int = SAMPLE_RATE,
    *,
    absence: str | None = None,
    seizure: bool = True,
) -> Pcm:
    """One caller-ID transmission as FSK; ``seizure=False`` gives the short (call-waiting) preamble."""
    message = build_message(number, name, _when_text(when), fmt, absence)
    bits = fsk_bits(message, seizure_bits=300 if seizure else 0, mark_bits=180 if seizure else 80)
    return fsk_modulate(bits, standard, level_dbm0, sample_rate)


def dtmf_digits(
    digits: str,
    on_ms: float = 80,
    off_ms: float = 80,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
) -> Pcm:
    """DTMF digits; ``level_dbm0`` is each tone's level, ``twist_db`` the high tone's level above the low."""
    on = round(on_ms * sample_rate / 1000)
    off = round(off_ms * sample_rate / 1000)
    n = np.arange(on)
    low_amp = dbm0_to_amplitude(level_dbm0)
    high_amp = dbm0_to_amplitude(level_dbm0 + twist_db)
    parts: list[npt.NDArray[np.float64]] = []
    for digit in digits.upper():
        row = next((i for i, keys in enumerate(KEYPAD) if digit in keys), None)
        if row is None:
            raise ValueError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        col = KEYPAD[row].index(digit)
        burst = low_amp * np.sin(2 * np.pi * ROW_HZ[row] * n / sample_rate)
        burst += high_amp * np.sin(2 * np.pi * COL_HZ[col] * n / sample_rate)
        parts += [burst, np.zeros(off)]
    return to_pcm(np.concatenate(parts) if parts else np.zeros(0))
