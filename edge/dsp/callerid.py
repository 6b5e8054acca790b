"""Streaming caller-ID decoder: Bell 202 and V.23 FSK (SDMF and MDMF, checksum verified) and DTMF caller ID.

One non-coherent FSK demodulator listens midway between the two standards' tone pairs (1250/2150 Hz), so
a Bell 202 (1200/2200) or a V.23 (1300/2100) sender is demodulated by the same correlators; which one sent
it is told afterwards from the mark tone's frequency. Bits are framed like a UART (start bit, eight data
bits LSB first, stop bit), re-timed at every start bit, so a ±1 % clock error costs nothing. A message
must follow a run of steady mark bits (the channel seizure's 0101… decodes as 0x55 bytes, and is dropped),
so the decoder needs no ring to arm it: it works before the first ring, between rings and during a call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.dsp.dtmf import DtmfDetector, DtmfHit
from edge.dsp.filters import StreamingFir, band_pass
from edge.dsp.levels import dbm0_to_power

SDMF_CALLER_ID = 0x04
MDMF_CALLER_ID = 0x80
PARAM_DATETIME = 0x01
PARAM_NUMBER = 0x02
PARAM_NUMBER_ABSENCE = 0x04
PARAM_NAME = 0x07
PARAM_NAME_ABSENCE = 0x08

STANDARDS = ("bell202", "v23", "dtmf")
FSK_TONES = {"bell202": (1200.0, 2200.0), "v23": (1300.0, 2100.0)}
"""Mark and space frequency of each FSK standard, Hz."""
BAUD = 1200.0


@dataclass(frozen=True)
class CallerIdMessage:
    """One caller-ID message; ``start_s`` is when its first byte began (seconds from stream start)."""

    standard: str
    """``bell202``, ``v23`` or ``dtmf``."""
    format: str
    """``mdmf``, ``sdmf`` or ``dtmf``."""
    number: str | None
    name: str | None
    datetime: str | None
    """Month, day, hour, minute as sent: ``MMDDHHMM``."""
    absence: str | None
    """Why the number is missing: ``O`` (unavailable) or ``P`` (private)."""
    checksum_ok: bool
    start_s: float

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of the ``callerid`` command."""
        return {
            "standard": self.standard,
            "format": self.format,
            "number": self.number,
            "name": self.name,
            "datetime": self.datetime,
            "absence": self.absence,
            "checksum_ok": self.checksum_ok,
            "start_s": round(self.start_s, 3),
        }


@dataclass(frozen=True)
class ParsedFields:
    """The fields of one SDMF or MDMF message body."""

    format: str
    number: str | None
    name: str | None
    datetime: str | None
    absence: str | None


def _text(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").strip()


def parse_message(message: bytes) -> ParsedFields | None:
    """Fields of a complete message (type, length, body, checksum); None if its structure is not caller ID."""
    if len(message) < 3 or len(message) != message[1] + 3:
        return None
    body = message[2:-1]
    if message[0] == SDMF_CALLER_ID:
        if len(body) < 9:
            return None
        stamp, rest = _text(body[:8]), _text(body[8:])
        if rest in ("O", "P"):
            return ParsedFields("sdmf", None, None, stamp, rest)
        return ParsedFields("sdmf", rest, None, stamp, None)
    if message[0] != MDMF_CALLER_ID:
        return None
    number: str | None = None
    name: str | None = None
    when: str | None = None
    absence: str | None = None
    pos = 0
    while pos < len(body):
        if pos + 2 > len(body):
            return None
        kind, length = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + length]
        if len(value) != length:
            return None
        if kind == PARAM_DATETIME:
            when = _text(value)
        elif kind == PARAM_NUMBER:
            number = _text(value)
        elif kind == PARAM_NUMBER_ABSENCE:
            absence = _text(value)
        elif kind == PARAM_NAME:
            name = _text(value)
        pos += 2 + length
    return ParsedFields("mdmf", number, name, when, absence)


def checksum_ok(message: bytes) -> bool:
    """The byte sum of the whole message, checksum included, is 0 modulo 256."""
    return sum(message) & 0xFF == 0


def build_message(
    number: str | None,
    name: str | None = None,
    when: str | None = None,
    fmt: str = "mdmf",
    absence: str | None = None,
) -> bytes:
    """Message bytes (type, length, body, checksum) as a central office sends them."""
    if fmt == "sdmf":
        body = (when or "01010000").encode("ascii") + (number or absence or "O").encode("ascii")
        kind = SDMF_CALLER_ID
    elif fmt == "mdmf":
        parts = bytearray()
        for code, value in (
            (PARAM_DATETIME, when),
            (PARAM_NUMBER, number),
            (PARAM_NUMBER_ABSENCE, absence if number is None else None),
            (PARAM_NAME, name),
        ):
            if value is not None:
                raw = value.encode("ascii", errors="replace")[:255]
                parts += bytes((code, len(raw))) + raw
        body = bytes(parts)
        kind = MDMF_CALLER_ID
    else:
        raise ValueError(f"unknown caller-ID format {fmt!r}; use 'mdmf' or 'sdmf'")
    if len(body) > 255:
        raise ValueError("caller-ID message body is longer than 255 bytes")
    head = bytes((kind, len(body))) + body
    return head + bytes(((-sum(head)) & 0xFF,))


class _FskUart:
    """Non-coherent FSK demodulator plus UART framing and message assembly, for one stream."""

    _MIN_MARK_BITS = 30.0  # call-waiting preambles send ~80 mark bits, normal ones 80-180
    _MAX_GAP_BITS = 12.0  # idle marks allowed between the bytes of one message
    _HISTORY = 480

    def __init__(self, sample_rate: int, floor_dbm0: float) -> None:
        self.fs = sample_rate
        self.bit = sample_rate / BAUD
        self.taps = max(3, round(self.bit * 0.9))
        mark = (FSK_TONES["bell202"][0] + FSK_TONES["v23"][0]) / 2
        space = (FSK_TONES["bell202"][1] + FSK_TONES["v23"][1]) / 2
        self._w = 2 * np.pi * np.array([mark, space]) / sample_rate
        self._phase = np.zeros(2)
        self._tail = np.zeros((2, self.taps - 1), dtype=np.complex128)
        # Band-pass ahead of the correlators: their one-bit windows are wide open to hum, DC and hiss.
        self._band_pass = StreamingFir(
            band_pass(sample_rate, 650.0, 2750.0, taps=2 * round(sample_rate * 0.0025) + 1)
        )
        self._delay = self._band_pass.delay + (self.taps - 1) / 2  # filter and correlator lag, samples
        self._floor = dbm0_to_power(floor_dbm0) * self.taps**2 / 2
        # Below half the floor's amplitude everywhere in a window, no correlator can reach the floor.
        self._gate = float(np.sqrt(2.0 * dbm0_to_power(floor_dbm0))) / 2
        self._soft = np.zeros(0)
        self._raw = np.zeros(0)
        self._base = 0  # absolute index of _soft[0]
        self._pos = 0  # absolute index where the next start-bit search begins
        self._run_start = 0.0  # where the current run of idle marks began
        self._message = bytearray()
        self._message_start = 0.0
        self._collecting = False
        self._standard = "bell202"

    def feed(self, pcm: npt.NDArray[np.float64]) -> list[tuple[bytes, float, str]]:
        samples = self._band_pass(pcm)
        n = samples.size
        recent = self._raw[-(self.taps - 1) :]
        if float(np.max(np.abs(samples))) < self._gate and (
            recent.size == 0 or float(np.max(np.abs(recent))) < self._gate
        ):
            # Too quiet for any correlator to pass the floor: no carrier, skip the demodulator.
            self._phase = (self._phase + self._w * n) % (2 * np.pi)
            self._tail[:] = 0.0
            return self._append(np.zeros(n), samples)
        k = np.arange(n)
        mixed = samples[None, :] * np.exp(-1j * (self._phase[:, None] + self._w[:, None] * k[None, :]))
        self._phase = (self._phase + self._w * n) % (2 * np.pi)
        joined = np.concatenate((self._tail, mixed), axis=1)
        sums = np.cumsum(joined, axis=1)
        sums = np.concatenate((np.zeros((2, 1), dtype=np.complex128), sums), axis=1)
        window = sums[:, self.taps :] - sums[:, : -self.taps]
        self._tail = joined[:, -(self.taps - 1) :]
        energy = np.abs(window) ** 2
        total = energy[0] + energy[1]
        soft = np.where(total > self._floor, (energy[0] - energy[1]) / np.maximum(total, 1e-9), 0.0)
        return self._append(soft, samples)

    def _append(
        self, soft: npt.NDArray[np.float64], samples: npt.NDArray[np.float64]
    ) -> list[tuple[bytes, float, str]]:
        self._soft = np.concatenate((self._soft, soft))
        self._raw = np.concatenate((self._raw, samples))
        out = self._frame_bytes()
        # A run of marks longer than the minimum counts the same, so an endless tone cannot grow the buffer.
        self._run_start = max(self._run_start, self._pos - 2 * self._MIN_MARK_BITS * self.bit)
        keep_from = max(self._base, min(self._pos, int(self._run_start)) - self._HISTORY)
        drop = keep_from - self._base
        if drop > 0:
            self._soft = self._soft[drop:]
            self._raw = self._raw[drop:]
            self._base = keep_from
        return out

    def _frame_bytes(self) -> list[tuple[bytes, float, str]]:
        out: list[tuple[bytes, float, str]] = []
        soft, base, bit = self._soft, self._base, self.bit
        end = base + soft.size
        min_run = self._MIN_MARK_BITS * bit
        while self._pos < end:
            rel = self._pos - base
            not_mark = rel + np.flatnonzero(soft[rel:] <= 0.0)
            if not_mark.size == 0:
                self._pos = end
                break
            if self._collecting:
                i = int(not_mark[0])
            else:
                # Outside a message only a start bit after a long run of marks matters: find it vectorised.
                run_from = np.concatenate(([self._run_start - base], not_mark[:-1] + 1.0))
                long_runs = np.flatnonzero(not_mark - run_from >= min_run)
                if long_runs.size == 0:
                    self._run_start = float(base + not_mark[-1] + 1)
                    self._pos = end
                    break
                i = int(not_mark[long_runs[0]])
                self._run_start = float(base + run_from[long_runs[0]])
            if soft[i] == 0.0:  # no carrier: whatever was being received is over
                self._abort()
                self._pos = base + i + 1
                self._run_start = float(self._pos)
                continue
            edge = float(i)
            if i > 0 and soft[i - 1] > 0.0:
                edge = i - 1 + soft[i - 1] / (soft[i - 1] - soft[i])
            if edge + 9.5 * bit + 2 >= soft.size:
                self._pos = base + i
                break
            centres = edge + (np.arange(10) + 0.5) * bit
            idx = np.round(centres).astype(int)
            values = (soft[idx - 1] + soft[idx] + soft[idx + 1]) / 3.0
            if values[0] >= 0.0:  # a glitch, not a start bit
                self._pos = base + i + 1
                if not self._collecting:
                    self._run_start = float(self._pos)
                continue
            if values[9] <= 0.0:  # framing error: lose sync and wait for steady marks again
                self._abort()
                self._pos = base + i + 1
                self._run_start = float(self._pos)
                continue
            value = int(sum(1 << b for b in range(8) if values[1 + b] > 0.0))
            idle_bits = (base + edge - self._run_start) / bit
            done = self._take(value, idle_bits, max(0.0, base + edge - self._delay), edge)
            if done is not None:
                out.append(done)
            self._run_start = base + edge + 10 * bit
            self._pos = base + int(edge + 9.5 * bit)
        return out

    def _take(
        self, value: int, idle_bits: float, at: float, rel_edge: float
    ) -> tuple[bytes, float, str] | None:
        if idle_bits >= self._MIN_MARK_BITS:
            self._abort()
            if value in (SDMF_CALLER_ID, MDMF_CALLER_ID):
                self._collecting = True
                self._message = bytearray((value,))
                self._message_start = at
                self._standard = self._which_standard(rel_edge)
            return None
        if not self._collecting:
            return None
        if idle_bits > self._MAX_GAP_BITS:
            self._abort()
            return None
        self._message.append(value)
        if len(self._message) >= 2 and len(self._message) == self._message[1] + 3:
            message = bytes(self._message)
            self._abort()
            return message, self._message_start, self._standard
        return None

    def _abort(self) -> None:
        self._collecting = False
        self._message = bytearray()

    def _which_standard(self, rel_edge: float) -> str:
        stop = int(rel_edge) - self.taps
        start = max(0, stop - 160)
        marks = self._raw[start:stop]
        if marks.size < 40:
            return "bell202"
        n = np.arange(marks.size)
        power = {
            name: abs(np.dot(marks, np.exp(-2j * np.pi * tones[0] * n / self.fs)))
            for name, tones in FSK_TONES.items()
        }
        return max(power, key=lambda name: power[name])


class _DtmfCallerId:
    """DTMF caller ID (ETSI EN 300 659-1 style): ``A`` or ``D``, digits, then ``C`` or ``#``."""

    _MAX_GAP_S = 1.5

    def __init__(self, sample_rate: int) -> None:
        self._detector = DtmfDetector(sample_rate)
        self._hits: list[DtmfHit] = []

    def feed(self, samples: npt.NDArray[np.float64]) -> list[CallerIdMessage]:
        out: list[CallerIdMessage] = []
        for hit in self._detector.feed(samples):
            if self._hits and hit.start_s - self._hits[-1].end_s > self._MAX_GAP_S:
                self._hits = []
            if not self._hits and hit.digit not in "AD":
                continue
            self._hits.append(hit)
            if hit.digit in "C#":
                message = self._finish()
                if message is not None:
                    out.append(message)
        return out

    def _finish(self) -> CallerIdMessage | None:
        hits, self._hits = self._hits, []
        text = "".join(h.digit for h in hits)
        body = text[1:-1]
        if not body.isdigit():
            return None
        start = hits[0].start_s
        if text[0] == "A":
            return CallerIdMessage("dtmf", "dtmf", body, None, None, None, True, start)
        absence = "P" if body.startswith("1") else "O"
        return CallerIdMessage("dtmf", "dtmf", None, None, None, absence, True, start)


class CallerIdDecoder:
    """Streaming caller-ID decoder; ``feed`` samples, get the messages completed within them."""

    def __init__(
        self,
        sample_rate: int = 8000,
        standards: Iterable[str] = STANDARDS,
        floor_dbm0: float = -48.0,
    ) -> None:
        chosen = tuple(standards)
        unknown = [s for s in chosen if s not in STANDARDS]
        if unknown:
            raise ValueError(f"unknown caller-ID standard(s) {unknown}; choose from {list(STANDARDS)}")
        if sample_rate < 6000:
            raise ValueError(f"sample rate {sample_rate} Hz is too low for FSK caller ID (needs >= 6000)")
        self.sample_rate = sample_rate
        self.standards = chosen
        fsk = [s for s in chosen if s in FSK_TONES]
        self._fsk = _FskUart(sample_rate, floor_dbm0) if fsk else None
        self._dtmf = _DtmfCallerId(sample_rate) if "dtmf" in chosen else None

    def feed(self, pcm: npt.ArrayLike) -> list[CallerIdMessage]:
        """Consume samples (int16 at ``sample_rate``); return the messages that completed within them."""
        samples = np.asarray(pcm, dtype=np.float64).ravel()
        if samples.size == 0:
            return []
        out: list[CallerIdMessage] = []
        if self._fsk is not None:
            for raw, at, standard in self._fsk.feed(samples):
                if standard not in self.standards:
                    continue
                fields = parse_message(raw)
                if fields is None:
                    continue
                out.append(
                    CallerIdMessage(
                        standard,
                        fields.format,
                        fields.number,
                        fields.name,
                        fields.datetime,
                        fields.absence,
                        checksum_ok(raw),
                        float(at) / self.sample_rate,
                    )
                )
        if self._dtmf is not None:
            out += self._dtmf.feed(samples)
        return out
