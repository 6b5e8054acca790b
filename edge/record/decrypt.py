"""Turning a sealed recording back into audio, for the holder of the central private key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
from nacl.public import PrivateKey

from edge.ports import SAMPLE_RATE
from edge.record.codec import decode_chunk
from edge.record.lgrec import open_recording

OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".opus": ("OGG", "OPUS"), ".ogg": ("OGG", "OPUS")}


@dataclass(frozen=True)
class Decrypted:
    """A recording's audio (samples x 2: caller, staff), header, end record and irregularities."""

    audio: npt.NDArray[np.int16]
    header: dict[str, Any]
    end: dict[str, Any] | None
    gaps: tuple[tuple[int, int], ...]
    """(first sample, length) of every stretch with no audio (dropped frames, disk full)."""
    problems: tuple[str, ...]

    @property
    def seconds(self) -> float:
        """Length of the timeline in seconds."""
        return len(self.audio) / SAMPLE_RATE


def decrypt_recording(path: Path, private_key: PrivateKey) -> Decrypted:
    """Open and decode every chunk, placing each at its sample position; gaps become silence."""
    opened = open_recording(path, private_key)
    problems = list(opened.problems)
    decoded: list[tuple[int, npt.NDArray[np.int16]]] = []
    for chunk in opened.chunks:
        try:
            pcm = decode_chunk(chunk.opus)
        except (RuntimeError, ValueError) as exc:
            problems.append(f"chunk at sample {chunk.first_sample} cannot be decoded: {exc}")
            continue
        if len(pcm) != chunk.n_samples:
            fixed = np.zeros((chunk.n_samples, 2), np.int16)
            fixed[: min(len(pcm), chunk.n_samples)] = pcm[: chunk.n_samples]
            pcm = fixed
        decoded.append((chunk.first_sample, pcm))
    total = max((first + len(pcm) for first, pcm in decoded), default=0)
    end_samples = int(opened.end.get("samples", 0)) if opened.end else 0
    total = max(total, end_samples)
    audio = np.zeros((total, 2), np.int16)
    covered = np.zeros(total, bool)
    for first, pcm in decoded:
        audio[first : first + len(pcm)] = pcm
        covered[first : first + len(pcm)] = True
    gaps: list[tuple[int, int]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[1], covered.astype(np.int8), [1]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        gaps.append((int(start), int(stop - start)))
    return Decrypted(audio, opened.header, opened.end, tuple(gaps), tuple(problems))


def write_audio(decrypted: Decrypted, out: Path) -> None:
    """Write the two channels to ``out``: ``.wav`` (16-bit) or ``.opus``/``.ogg`` (Opus)."""
    try:
        major, subtype = OUTPUT_FORMATS[out.suffix.lower()]
    except KeyError:
        raise ValueError(f"output {out} must end in .wav, .opus or .ogg") from None
    sf.write(out, decrypted.audio, SAMPLE_RATE, format=major, subtype=subtype)
