"""Real recordings on the caller leg: people's voices and music on hold, through the box's detector (a check).

Everything else the model is trained and measured on is made here, and every voice in it is espeak-ng's. The
only real recordings this machine can have are the ones Debian ships, and Asterisk's are telephone audio
(8 kHz, as a switchboard plays it to a caller): its voice prompts, spoken by eight professional voices in
six languages (English, Mexican and Colombian Spanish, Canadian and European French, Italian, Russian), and
its music on hold (five pieces from opsound.org, recorded and produced by their musicians). None is Korean,
and no keyword is in them: every detection is a false one, and since the box's caller leg carries these very
sounds (a company's switchboard announcing or holding a call it placed to the office, a foreign resident
calling), they are speech and music the box must let pass.

Measurements, with the shipped model as the box runs it (one detector, reset per 3-minute call; the music
veto off and at its shipped setting, ``--vetoes``):

- ``voices``: each voice's prompts in a shuffled order with 0.3-1.2 s between them, as a talker or an IVR
  says them, cut into 3-minute calls, through G.711 mu-law, at the level they were recorded at and 10 dB
  lower: every staff alert and warning with the prompt it came in, and the hours of speech the VAD passed;
- ``music_on_hold``: the pieces alone at a loud and a quiet level, then under a stream of ordinary speech
  (``--stream``) and under every keyword variant (``--recall``), as music_check measures its own tunes.

Needs the apt packages in ``models/apt-recorded.txt`` (``make -C models recorded-check`` installs them).
Runs in the main venv: ``python -m pipeline.recorded_check`` from models/.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge.detect.detector import AbuseDetector
from edge.dsp import g711
from edge.dsp.levels import dbm0, to_pcm
from edge.ports import SAMPLE_RATE as LINE_RATE
from pipeline.evaluate import emit
from pipeline.music_check import CALL_S, add_check_options, alone, check_detector, listen, recall, under

SOUNDS = Path("/usr/share/asterisk/sounds")
MUSIC_ON_HOLD = Path("/usr/share/asterisk/moh")


@dataclass(frozen=True)
class Voice:
    """One speaker's prompts: the folder Debian installs them in, and who is speaking what."""

    folder: str
    """Folder under SOUNDS."""
    speaker: str
    """Language and speaker, as the package credits them."""


VOICES = (
    Voice("en_US_f_Allison", "US English, Allison Smith"),
    Voice("es_MX_f_Allison", "Mexican Spanish, Allison Smith"),
    Voice("es", "Colombian Spanish (GSM 06.10 coded)"),
    Voice("fr_CA_f_June", "Canadian French, June Wallack"),
    Voice("fr", "French, Armelle Desjardins (GSM 06.10 coded)"),
    Voice("it_IT_f_Menardi", "Italian, Menardi (female)"),
    Voice("it_IT_m_Carlo", "Italian, Carlo Flora"),
    Voice("ru_RU_f_IvrvoiceRU", "Russian, ivrvoice.ru (female)"),
)


def telephone_audio(path: Path) -> np.ndarray | None:
    """A recording on the 16-bit scale if it is 8 kHz mono telephone audio, else None (skipped, not resampled)."""
    try:
        samples, rate = soundfile.read(str(path), dtype="float64")
    except (soundfile.LibsndfileError, RuntimeError):
        return None
    if rate != LINE_RATE or samples.ndim != 1 or samples.size < LINE_RATE // 10:
        return None
    return np.asarray(samples * 32768.0)


def prompts(folder: Path) -> list[tuple[str, np.ndarray]]:
    """Every prompt under ``folder`` that is telephone audio, by its path there, in file-name order."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        pcm = telephone_audio(path)
        if pcm is not None:
            found.append((str(path.relative_to(folder)), pcm))
    return found


def calls(said: list[tuple[str, np.ndarray]], seed: int) -> list[tuple[np.ndarray, list[tuple[int, str]]]]:
    """The prompts in a shuffled order, 0.3-1.2 s apart, cut into 3-minute calls: each call's audio, and
    where in it each prompt starts."""
    rng = random.Random(seed)
    order = list(said)
    rng.shuffle(order)
    out: list[tuple[np.ndarray, list[tuple[int, str]]]] = []
    parts: list[np.ndarray] = []
    starts: list[tuple[int, str]] = []
    length = 0
    for name, pcm in order:
        gap = np.zeros(round(rng.uniform(0.3, 1.2) * LINE_RATE))
        starts.append((length, name))
        parts += [pcm, gap]
        length += pcm.size + gap.size
        if length >= CALL_S * LINE_RATE:
            out.append((np.concatenate(parts), starts))
            parts, starts, length = [], [], 0
    if parts:
        out.append((np.concatenate(parts), starts))
    return out


def on_line(pcm: np.ndarray, gain_db: float) -> np.ndarray:
    """``pcm`` ``gain_db`` louder, through the line's G.711 mu-law."""
    return g711.roundtrip(to_pcm(pcm * 10 ** (gain_db / 20)), "ulaw").astype(np.float64)


def spoken(seed: int) -> dict[Voice, tuple[list[tuple[str, np.ndarray]], list[Any]]]:
    """Every installed voice's prompts and the calls they make (``calls``), read once for all the runs."""
    out = {}
    for voice in VOICES:
        said = prompts(SOUNDS / voice.folder)
        if said:
            out[voice] = (said, calls(said, seed))
    return out


def voices(
    detector: AbuseDetector,
    gains: list[float],
    by_voice: dict[Voice, tuple[list[tuple[str, np.ndarray]], list[Any]]],
) -> dict[str, Any]:
    """Per voice (``spoken``) and gain: hours, speech hours, and every detection with the prompt it came in."""
    out: dict[str, Any] = {}
    for voice, (said, voice_calls) in by_voice.items():
        levels = [dbm0(pcm[np.abs(pcm) > 50]) for _name, pcm in said]
        row: dict[str, Any] = {
            "speaker": voice.speaker,
            "prompts": len(said),
            "median_prompt_dbm0": round(float(np.median(levels)), 1),
        }
        for gain in gains:
            total = speech_s = 0.0
            events = []
            for pcm, starts in voice_calls:
                heard = on_line(pcm, gain)
                for d in listen(detector, heard):
                    at = int(d.t * LINE_RATE)
                    prompt = [name for start, name in starts if start <= at][-1]
                    events.append(
                        {
                            "tier": str(d.event.tier),
                            "class": d.event.keyword,
                            "score": round(float(d.event.score), 4),
                            "prompt": prompt,
                        }
                    )
                total += pcm.size / LINE_RATE
                speech_s += detector.speech_s
            row[f"gain_{gain:g}_db"] = {
                "hours": round(total / 3600, 3),
                "speech_hours": round(speech_s / 3600, 3),
                "warn": sum(e["tier"] == "warn" for e in events),
                "alert": len(events),
                "per_class": dict(Counter(e["class"] for e in events)),
                "events": events,
            }
        out[voice.folder] = row
    return out


def totals(by_voice: dict[str, Any], gains: list[float]) -> dict[str, Any]:
    """All voices together per gain: warnings and detections at either tier, per hour of speech."""
    out = {}
    for gain in gains:
        rows = [row[f"gain_{gain:g}_db"] for row in by_voice.values()]
        speech_h = sum(r["speech_hours"] for r in rows)
        warn, alert = sum(r["warn"] for r in rows), sum(r["alert"] for r in rows)
        per_class: Counter[str] = Counter()
        for r in rows:
            per_class.update(r["per_class"])
        out[f"gain_{gain:g}_db"] = {
            "speech_hours": round(speech_h, 3),
            "warn": warn,
            "alert": alert,
            "warn_per_speech_hour": round(warn / speech_h, 2) if speech_h else None,
            "alert_per_speech_hour": round(alert / speech_h, 2) if speech_h else None,
            "per_class": dict(per_class),
        }
    return out


def write_stream(path: Path, seed: int, folders: list[str] | None = None, root: Path = SOUNDS) -> None:
    """The voices' calls (at their recorded level, through mu-law; every voice, or those in ``folders``) as
    one stream set like build.py's, the voices taking turns call by call, so any stretch of it holds them
    all: for ``site_loop``, ``frozen`` and pricing, with "voice/prompt" as what was said where."""
    per_voice = []
    for voice in VOICES:
        if folders is not None and voice.folder not in folders:
            continue
        said = prompts(root / voice.folder)
        per_voice.append([(on_line(pcm, 0.0), starts, voice.folder) for pcm, starts in calls(said, seed)])
    parts: list[np.ndarray] = []
    text: list[str] = []
    start_s: list[float] = []
    length = 0
    for turn in range(max(len(v) for v in per_voice)):
        for voice_calls in per_voice:
            if turn < len(voice_calls):
                pcm, starts, folder = voice_calls[turn]
                text += [f"{folder}/{name}" for _start, name in starts]
                start_s += [(length + start) / LINE_RATE for start, _name in starts]
                parts.append(pcm)
                length += pcm.size
    stream = to_pcm(np.concatenate(parts))
    np.savez(path, stream=stream, stream_text=np.array(text), stream_start_s=np.array(start_s))
    print(f"{path.name}: {stream.size / LINE_RATE / 3600:.2f} h of recorded voices", flush=True)


TRAINING_VOICES = ("en_US_f_Allison", "es_MX_f_Allison", "fr_CA_f_June", "it_IT_m_Carlo")
"""The voices stage 23 trains on as negatives (three speakers); the other four are the check it cannot hear."""
CHECK_VOICES = tuple(v.folder for v in VOICES if v.folder not in TRAINING_VOICES)
"""The voices no training hears: a model trained on TRAINING_VOICES is checked on these alone."""


def write_real(path: Path, folders: list[str], windows: int, seed: int, root: Path = SOUNDS) -> None:
    """Training windows of the voices' prompts as negatives (through mu-law, as the line carries them),
    ``windows`` of them drawn at random, for ``train.py --real``."""
    from pipeline.build import real_windows

    clips = [
        (to_pcm(on_line(pcm, 0.0)), 0)
        for voice in VOICES
        if voice.folder in folders
        for _name, pcm in prompts(root / voice.folder)
    ]
    x, y = real_windows(clips)
    keep = np.sort(np.random.default_rng(seed).choice(len(y), min(windows, len(y)), replace=False))
    np.savez_compressed(path, x=x[keep], y=y[keep])
    print(
        f"{path.name}: {keep.size} of the {len(y)} windows of {len(clips)} prompts, all negative", flush=True
    )


def music_on_hold() -> dict[str, list[np.ndarray]]:
    """Each piece of music on hold as the line carries it (mu-law), on the 16-bit scale, by its file name."""
    pieces = {}
    for path in sorted(MUSIC_ON_HOLD.glob("*")):
        pcm = telephone_audio(path)
        if pcm is not None:
            pieces[path.stem] = [on_line(pcm, 0.0)]
    return pieces


def main() -> None:
    """Print (and write) one JSON object with the measurements asked for."""
    ap = argparse.ArgumentParser(description=__doc__)
    add_check_options(ap, hours=2.0)
    ap.add_argument(
        "--gains", type=float, nargs="*", default=[0.0, -10.0], help="dB on the voices' recorded level"
    )
    ap.add_argument("--recall", action="store_true", help="keyword variants over the music on hold too")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--write-stream", type=Path, default=None, help="only write the voices as a stream set (.npz) here"
    )
    ap.add_argument(
        "--write-real",
        type=Path,
        default=None,
        help="only write the training windows of --voices (default TRAINING_VOICES) as negatives here (.npz)",
    )
    ap.add_argument("--windows", type=int, default=20000, help="with --write-real: windows drawn")
    ap.add_argument(
        "--voices",
        nargs="*",
        choices=[v.folder for v in VOICES],
        default=None,
        help="with --write-stream: only these voices (default all); with --write-real: these (default "
        "TRAINING_VOICES)",
    )
    args = ap.parse_args()
    if not SOUNDS.is_dir() or not MUSIC_ON_HOLD.is_dir():
        raise SystemExit(
            f"Asterisk's recordings are not installed ({SOUNDS}, {MUSIC_ON_HOLD}): install the packages in "
            "models/apt-recorded.txt (make -C models recorded-check does)."
        )
    if args.write_stream is not None:
        write_stream(args.write_stream, args.seed, args.voices)
        return
    if args.write_real is not None:
        write_real(args.write_real, args.voices or list(TRAINING_VOICES), args.windows, args.seed)
        return
    music = music_on_hold()
    said = spoken(args.seed)
    report: dict[str, Any] = {}
    for veto in args.vetoes:
        detector = check_detector(args.model, veto)
        report["model"] = detector.model.info.version
        by_voice = voices(detector, args.gains, said)
        row: dict[str, Any] = {"voices_total": totals(by_voice, args.gains), "voices": by_voice}
        row["music_on_hold"] = {
            "minutes": round(sum(p.size for ps in music.values() for p in ps) / LINE_RATE / 60, 1),
            "alone": alone(detector, music, args.levels),
        }
        if args.stream is not None:
            row["music_on_hold"]["under"] = under(detector, music, args.stream, args.hours, args.below)
        if args.recall:
            row["music_on_hold"]["recall"] = recall(detector, music, args.below, args.seed)
        report[f"tonal_veto_{veto:g}"] = row
    emit(report, args.out)


if __name__ == "__main__":
    main()
