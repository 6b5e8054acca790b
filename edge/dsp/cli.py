"""Technician and test commands: ``lineguard callerid FILE.wav`` and ``lineguard dtmf FILE.wav``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.cli import CommonParsers, UserError, print_json, read_recording
from edge.dsp.callerid import STANDARDS, CallerIdDecoder, CallerIdMessage
from edge.dsp.dtmf import DtmfDetector, DtmfHit
from edge.dsp.levels import dbm0, power_to_dbm0
from edge.dsp.progress import CallProgressDetector, ProgressEvent
from edge.dsp.settings import DspConfig
from edge.ports import SAMPLE_RATE, Pcm

_CHUNK = SAMPLE_RATE  # one second per feed keeps memory flat on long recordings


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add the ``callerid`` and ``dtmf`` subcommands."""
    p = subparsers.add_parser(
        "callerid",
        parents=[common.report],
        help="decode caller ID (Bell 202, V.23, DTMF) from a WAV recording of the line",
    )
    p.add_argument("file", metavar="FILE.wav", help="mono 16-bit WAV (any sample rate)")
    p.add_argument(
        "--standards",
        default=",".join(STANDARDS),
        help=f"comma-separated caller-ID standards to listen for (default: {','.join(STANDARDS)})",
    )
    p.add_argument(
        "--channel", type=int, default=None, help="channel to use in a multi-channel file (1 = first)"
    )
    p.set_defaults(handler=_callerid)

    p = subparsers.add_parser(
        "tones",
        parents=[common.state, common.report],
        help="call-progress tones in a WAV recording: what the configured plan recognises, and what was measured",
    )
    p.add_argument("file", metavar="FILE.wav", help="mono 16-bit WAV (any sample rate)")
    p.add_argument(
        "--channel", type=int, default=None, help="channel to use in a multi-channel file (1 = first)"
    )
    p.set_defaults(handler=_tones)

    p = subparsers.add_parser(
        "dtmf", parents=[common.report], help="find DTMF digits in a WAV recording (Q.24 detector)"
    )
    p.add_argument("file", metavar="FILE.wav", help="mono 16-bit WAV (any sample rate)")
    p.add_argument(
        "--channel", type=int, default=None, help="channel to use in a multi-channel file (1 = first)"
    )
    p.set_defaults(handler=_dtmf)


def decode_callerid(pcm: Pcm, standards: tuple[str, ...] = STANDARDS) -> list[CallerIdMessage]:
    """Every caller-ID message in a whole recording at 8 kHz."""
    decoder = CallerIdDecoder(SAMPLE_RATE, standards)
    messages: list[CallerIdMessage] = []
    for i in range(0, pcm.size, _CHUNK):
        messages += decoder.feed(pcm[i : i + _CHUNK])
    messages += decoder.feed(
        np.zeros(SAMPLE_RATE // 2, dtype=np.int16)
    )  # let a message at the very end finish
    return messages


def find_digits(pcm: Pcm) -> list[DtmfHit]:
    """Every DTMF digit in a whole recording at 8 kHz."""
    detector = DtmfDetector(SAMPLE_RATE)
    hits: list[DtmfHit] = []
    for i in range(0, pcm.size, _CHUNK):
        hits += detector.feed(pcm[i : i + _CHUNK])
    return hits + detector.flush()


def _standards(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [s for s in chosen if s not in STANDARDS]
    if not chosen or unknown:
        raise UserError(f"--standards must list some of {', '.join(STANDARDS)}; got {text!r}.")
    return chosen


def _callerid(args: argparse.Namespace) -> int:
    standards = _standards(args.standards)
    pcm = read_recording(Path(args.file), args.channel)
    messages = decode_callerid(pcm, standards)
    if args.json:
        print_json({"messages": [m.as_dict() for m in messages]})
    elif not messages:
        print(f"{args.file}: no caller ID found")
    else:
        for m in messages:
            check = "ok" if m.checksum_ok else "BAD CHECKSUM"
            print(
                f"{m.start_s:8.3f}s {m.standard} {m.format} number={m.number or '-'} name={m.name or '-'} "
                f"datetime={m.datetime or '-'} absence={m.absence or '-'} checksum={check}"
            )
    return 0


def _dtmf(args: argparse.Namespace) -> int:
    pcm = read_recording(Path(args.file), args.channel)
    hits = find_digits(pcm)
    if args.json:
        print_json(
            {
                "digits": [
                    {"digit": h.digit, "start_s": round(h.start_s, 3), "end_s": round(h.end_s, 3)}
                    for h in hits
                ]
            }
        )
    elif not hits:
        print(f"{args.file}: no DTMF digits found")
    else:
        print("".join(h.digit for h in hits))
        for h in hits:
            print(f"{h.digit} {h.start_s:8.3f}s - {h.end_s:8.3f}s")
    return 0


def measure_tone(pcm: Pcm, sample_rate: int = SAMPLE_RATE) -> dict[str, object] | None:
    """Frequencies, level and on/off cadence of the loudest tone in a recording (to write a site's tone plan)."""
    block = sample_rate // 200  # 5 ms: fine enough to read a cadence to the centisecond
    count = pcm.size // block
    if count < 20:
        return None
    blocks = pcm[: count * block].astype(np.float64).reshape(count, block)
    power = np.mean(blocks**2, axis=1)
    loud = float(np.max(power))
    on = (power > loud / 10**1.5) & (np.array([power_to_dbm0(float(p)) for p in power]) > -50.0)
    if not on.any():
        return None
    tone = blocks[on].ravel()
    # Frequencies from the longest unbroken burst: concatenated bursts would add phase jumps.
    edges = np.flatnonzero(np.diff(on.astype(int))) + 1
    starts = np.concatenate(([0], edges))
    runs = np.split(on, edges)
    longest = max((i for i, r in enumerate(runs) if r[0]), key=lambda i: runs[i].size)
    burst = blocks[starts[longest] : starts[longest] + min(runs[longest].size, 200)].ravel()
    size = 8 * max(burst.size, sample_rate // 4)
    spectrum = np.abs(np.fft.rfft(burst * np.hanning(burst.size), n=size))
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    spectrum[(freqs < 200) | (freqs > 3400)] = 0.0
    first = int(np.argmax(spectrum))
    found = [_peak(spectrum, freqs, first)]
    away = np.abs(freqs - freqs[first]) > 40.0
    second = int(np.argmax(np.where(away, spectrum, 0.0)))
    if spectrum[second] > spectrum[first] / 10**0.5:  # within 10 dB: a second tone, not leakage
        found.append(_peak(spectrum, freqs, second))
    runs = runs[1:-1]  # the first and last runs may be cut by the recording
    on_s = [r.size / 200 for r in runs if r[0]]
    off_s = [r.size / 200 for r in runs if not r[0]]
    cadence = [float(np.median(on_s)), float(np.median(off_s))] if on_s and off_s else []
    return {
        "freqs_hz": sorted(round(f, 1) for f in found),
        "level_dbm0": round(dbm0(tone), 1),
        "cadence_s": [round(c, 2) for c in cadence],
    }


def _peak(spectrum: npt.NDArray[np.float64], freqs: npt.NDArray[np.floating[Any]], i: int) -> float:
    """Frequency of a spectral peak, refined by a parabola through the log magnitudes around it."""
    if 0 < i < spectrum.size - 1 and spectrum[i - 1] > 0 and spectrum[i + 1] > 0:
        a, b, c = np.log(spectrum[i - 1 : i + 2])
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
        return float(freqs[i] + shift * (freqs[1] - freqs[0]))
    return float(freqs[i])


def _config_for(args: argparse.Namespace) -> DspConfig:
    from edge.config import ConfigError, default_config, load_config, resolve_config_path

    path = resolve_config_path(args.config)
    try:
        return (default_config() if path is None else load_config(path)).dsp
    except ConfigError as error:
        raise UserError(f"the config {error.source} cannot be used: {'; '.join(error.problems)}.") from None


def _tones(args: argparse.Namespace) -> int:
    config = _config_for(args)
    pcm = read_recording(Path(args.file), args.channel)
    detector = CallProgressDetector(SAMPLE_RATE, config)
    events: list[ProgressEvent] = []
    for i in range(0, pcm.size, _CHUNK):
        events += detector.feed(pcm[i : i + _CHUNK])
    measured = measure_tone(pcm)
    if args.json:
        print_json(
            {"events": [{"kind": e.kind, "at_s": round(e.at_s, 2)} for e in events], "measured": measured}
        )
        return 0
    for e in events:
        print(f"{e.at_s:8.2f}s {e.kind}")
    if not events:
        print(f"{args.file}: no tone of the configured plan recognised")
    if measured is not None:
        cadence = measured["cadence_s"] or "continuous"
        print(f"measured: {measured['freqs_hz']} Hz at {measured['level_dbm0']} dBm0, cadence {cadence}")
    return 0
