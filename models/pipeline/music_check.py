"""Music and everyday sounds on the caller leg, through the box's detector (a check; nothing trained on it).

No training or threshold set holds music, yet a caller leg often does: a company's switchboard puts the
office on hold with music, a caller rings from a shop or a car with the radio on. The music here is played
by FluidSynth from the FluidR3 General MIDI sound font (sampled instruments, another implementation's sound
entirely), on tunes composed at random in eight styles: pop, ballad, trot, hold music, orchestral, vocal
(choir "aahs", voice "oohs", synth voice: the closest an instrument comes to a singer), guitar band, struck
bells and mallets alone (celesta, glockenspiel, marimba, xylophone, tubular bells, tinkle bell, steel
drums), and the sound font's recorded effects (breath, sea shore, birds, a telephone ringing, a helicopter, applause, a
gunshot). Each tune goes to the line as a phone line carries it: 300-3400 Hz, 8 kHz, G.711 mu-law.

Measurements, with the shipped model as the box runs it (one detector, reset per 3-minute call), each with
the music veto off and at its shipped setting (``--vetoes``):

- ``alone``: the music by itself on the line at a loud and a quiet level (hold music, a radio held near the
  mouthpiece): every staff alert and warning is a false one, with the seconds the VAD passed to the model
  and the veto's measure (edge.dsp.tonality) at each detection;
- ``under``: a stream of ordinary speech (``build.py``'s staff set: held-out voices, sentences no training
  says) with the music mixed under it at 10 and 5 dB below the speech, against the same speech alone;
- ``recall``: every spoken variant of every keyword group (keywords.toml), in a held-out voice, over the
  music at those levels and alone: does a radio in the room hide the words the box must hear?
- ``solo`` (``--solo MINUTES``): arpeggios of single instruments (SOLO_PROGRAMS), piano to steel drums:
  which ones the veto tells from speech;
- ``test_set`` (``--test-set``): what the veto costs on a held-out test set's clips, near misses and stream.

Needs ``fluidsynth`` and ``fluid-soundfont-gm`` (apt). Runs in the main venv: ``python -m
pipeline.music_check`` from models/ (Makefile target ``music-check``).
"""

from __future__ import annotations

import argparse
import random
import shutil
import struct
import subprocess
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from scipy import signal

from edge.audio import synthesize
from edge.core.events import Tier
from edge.detect.cli import feed
from edge.detect.detector import AbuseDetector, load_detector
from edge.detect.settings import DetectionConfig
from edge.dsp.generate import scale_to_dbm0
from edge.dsp.levels import dbm0, to_pcm
from edge.dsp.tonality import steady_share
from pipeline.audio import mulaw, resample
from pipeline.echo_check import VOICES
from pipeline.evaluate import ROOT, emit

SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 16000
FRAME = 160
CALL_S = 180
TICKS = 480  # per beat
DRUMS = 9  # the General MIDI percussion channel (0-based)
WINDOW_S = DetectionConfig().tonal_window_s
_LINE_BAND = signal.butter(4, (300.0, 3400.0), btype="bandpass", fs=RENDER_RATE, output="sos")


@dataclass(frozen=True)
class Style:
    """How one style of tune is composed: its instruments (General MIDI programs), pace and scale."""

    chords: tuple[int, ...]
    """Programs that play the chords (one is drawn per tune)."""
    lead: tuple[int, ...]
    """Programs that play the melody."""
    bass: tuple[int, ...]
    """Programs that play the bass line; empty: none."""
    tempo: tuple[int, int]
    """Beats per minute, drawn between."""
    scale: tuple[int, ...]
    """Semitones of the scale above its key note."""
    pattern: str
    """How the chords are played: "block" on each beat, "arpeggio" in eighths, "pad" held for the bar."""
    drums: str = ""
    """The drum pattern: "" none, "rock" (kick 1 and 3, snare 2 and 4, eighth hats), "two-beat" (trot)."""


MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PENTATONIC_MINOR = (0, 2, 3, 7, 8)  # trot's yonanuki minor scale
STYLES: dict[str, Style] = {
    "pop": Style((0, 4, 5), (80, 81, 65, 73), (33, 34, 38), (96, 128), MAJOR, "block", "rock"),
    "ballad": Style((48, 49, 0), (40, 73, 0), (32,), (60, 80), MINOR, "arpeggio"),
    "trot": Style((21, 0), (21, 56, 65), (32, 33), (120, 150), PENTATONIC_MINOR, "block", "two-beat"),
    "hold": Style((4, 11, 8), (10, 11, 4), (), (80, 110), MAJOR, "arpeggio"),
    "orchestral": Style((48, 49, 42), (68, 71, 60, 40), (43,), (70, 100), MINOR, "pad"),
    "vocal": Style((52, 53), (53, 54, 52), (), (70, 110), MAJOR, "pad"),
    "guitar": Style((24, 25, 27, 29, 30), (27, 29, 30), (33, 34), (100, 140), MINOR, "block", "rock"),
    # Struck bells and mallets alone, short notes that die fast: the hardest music for the veto to tell.
    "mallets": Style(
        (8, 9, 12, 13, 14, 112, 114), (8, 9, 12, 13, 14, 112, 114), (), (80, 120), MAJOR, "arpeggio"
    ),
}
EFFECTS = (
    121,
    122,
    123,
    124,
    125,
    126,
    127,
)  # breath, seashore, bird, telephone, helicopter, applause, gunshot
PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 4, 3))


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def midi_file(notes: list[tuple[int, int, int, int, int]], programs: dict[int, int], bpm: int) -> bytes:
    """A format-0 standard MIDI file of ``notes`` (start tick, length in ticks, channel, key, velocity)."""
    events: list[tuple[int, int, bytes]] = [(0, 0, b"\xff\x51\x03" + (60_000_000 // bpm).to_bytes(3, "big"))]
    events += [(0, 0, bytes((0xC0 | channel, program))) for channel, program in programs.items()]
    for start, length, channel, key, velocity in notes:
        events.append((start, 2, bytes((0x90 | channel, key, velocity))))
        events.append((start + length, 1, bytes((0x80 | channel, key, 0))))
    track, now = bytearray(), 0
    for tick, _order, data in sorted(events, key=lambda e: (e[0], e[1])):
        track += _varlen(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS) + b"MTrk" + struct.pack(">I", len(track)) + track


def compose(style: Style, rng: random.Random, seconds: float) -> bytes:
    """A tune of about ``seconds`` in ``style``: chords over a progression, a bass line, a melody, drums."""
    bpm = rng.randint(*style.tempo)
    bars = max(1, round(seconds * bpm / 60 / 4))
    key = 48 + rng.randrange(12)
    scale = [key + o * 12 + s for o in range(-1, 4) for s in style.scale]
    programs = {0: rng.choice(style.chords), 1: rng.choice(style.lead)}
    if style.bass:
        programs[2] = rng.choice(style.bass)
    notes: list[tuple[int, int, int, int, int]] = []
    progression = rng.choice(PROGRESSIONS)
    melody = scale.index(min(scale, key=lambda k: abs(k - (key + 12))))
    for bar in range(bars):
        t0 = bar * 4 * TICKS
        degree = progression[bar % len(progression)] % len(style.scale)
        root = scale.index(key) + degree
        chord = [scale[root], scale[root + 2], scale[root + 4 if len(style.scale) > 5 else root + 3]]
        vel = rng.randint(55, 80)
        if style.pattern == "pad":
            notes += [(t0, 4 * TICKS, 0, k, vel) for k in chord]
        elif style.pattern == "block":
            notes += [(t0 + b * TICKS, TICKS - 40, 0, k, vel) for b in range(4) for k in chord]
        else:
            notes += [
                (t0 + i * TICKS // 2, TICKS // 2, 0, chord[i % 3] + 12 * (i // 3 % 2), vel) for i in range(8)
            ]
        if 2 in programs:
            notes += [(t0 + b * TICKS, TICKS * 2 - 60, 2, scale[root] - 12, 90) for b in (0, 2)]
        t = 0
        while t < 4 * TICKS:
            length = rng.choice((TICKS // 2, TICKS, TICKS, TICKS * 3 // 2, TICKS * 2))
            if rng.random() > 0.15:  # a rest otherwise
                melody = min(max(melody + rng.choice((-2, -1, -1, 0, 1, 1, 2, 3)), 5), len(scale) - 3)
                notes.append((t0 + t, length - 30, 1, scale[melody], rng.randint(70, 110)))
            t += length
        if style.drums:
            beat = TICKS if style.drums == "rock" else TICKS // 2
            for i in range(4 * TICKS // beat):
                notes.append((t0 + i * beat, 60, DRUMS, 36 if i % 2 == 0 else 38, rng.randint(80, 110)))
            notes += [(t0 + i * TICKS // 2, 60, DRUMS, 42, rng.randint(50, 75)) for i in range(8)]
    return midi_file(notes, programs, bpm)


def compose_effects(rng: random.Random, seconds: float) -> bytes:
    """The sound font's recorded effects, one or two at a time, at random pitches, lengths and pauses."""
    programs = {c: rng.choice(EFFECTS) for c in range(2)}
    notes, bpm = [], 60  # one beat per second
    for channel in programs:
        t = rng.uniform(0.0, 2.0)
        while t < seconds:
            length = rng.uniform(0.5, 5.0)
            notes.append(
                (int(t * TICKS), int(length * TICKS), channel, rng.randint(48, 72), rng.randint(70, 120))
            )
            t += length + rng.uniform(0.0, 3.0)
    return midi_file(notes, programs, bpm)


def render(midi: bytes, workdir: Path) -> np.ndarray:
    """``midi`` played by FluidSynth at 16 kHz, mono, float in [-1, 1]."""
    mid, wav = workdir / "tune.mid", workdir / "tune.wav"
    mid.write_bytes(midi)
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.6",
            "-r",
            str(RENDER_RATE),
            "-F",
            str(wav),
            str(SOUND_FONT),
            str(mid),
        ],
        check=True,
        capture_output=True,
    )
    audio, rate = soundfile.read(str(wav), dtype="float64", always_2d=True)
    assert rate == RENDER_RATE, rate
    return audio.mean(axis=1)


def play(style: Style, rng: random.Random, seconds: float, workdir: Path) -> np.ndarray:
    """A tune composed in ``style`` from ``rng``, played by FluidSynth: its first ``seconds`` at 16 kHz."""
    return render(compose(style, rng, seconds), workdir)[: round(seconds * RENDER_RATE)]


def to_line(x: np.ndarray) -> np.ndarray:
    """16 kHz audio as a phone line carries it: 300-3400 Hz, 8 kHz, G.711 mu-law (float, 8 kHz)."""
    y = signal.sosfilt(_LINE_BAND, x)
    y = resample(y / (np.abs(y).max() + 1e-9) * 0.7, RENDER_RATE, 8000).astype(np.float64)
    return np.asarray(mulaw(np.clip(y, -1.0, 1.0).astype(np.float32)), dtype=np.float64) * 32767


def tunes(minutes: float, seed: int) -> dict[str, list[np.ndarray]]:
    """Line-rendered 60 s tunes, ``minutes`` of each style and of the effects (8 kHz float)."""
    if shutil.which("fluidsynth") is None or not SOUND_FONT.exists():
        raise SystemExit("music_check needs fluidsynth and fluid-soundfont-gm (apt install them)")
    out: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate([*STYLES, "effects"]):
            rng = random.Random(seed * 1000 + index)
            out[name] = []
            for _ in range(max(1, round(minutes))):
                if name == "effects":
                    played = render(compose_effects(rng, 60.0), Path(tmp))[: 60 * RENDER_RATE]
                else:
                    played = play(STYLES[name], rng, 60.0, Path(tmp))
                out[name].append(to_line(played))
    return out


def training_bed(seed: int, minutes: int = 3) -> np.ndarray:
    """Music for training to lay under speech (``pool.py --music``): ``minutes`` 60 s tunes in STYLES drawn at
    random from ``seed``, at 16 kHz (the augmentation chain's rate), peaks at 0.7. The check's tunes come
    from other seeds (``--seed``), so what it measures on is not what training heard."""
    rng = random.Random(seed)
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(minutes):
            x = play(STYLES[rng.choice(sorted(STYLES))], rng, 60.0, Path(tmp))
            parts.append(x / (np.abs(x).max() + 1e-9) * 0.7)
    return np.concatenate(parts).astype(np.float32)


FIXTURE_TUNES = ((12, 1), (11, 1))
"""The test fixture's tunes: (General MIDI program, seed) of 12 s solo arpeggios at 90 bpm that the shipped
model took for 몸매 before the music veto: a marimba, and a vibraphone (whose tremolo makes it the least steady
of the bells)."""


def fixture(path: Path) -> None:
    """Write the test fixture: FIXTURE_TUNES one after another at -15 dBm0, as G.711 mu-law WAV."""
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for program, seed in FIXTURE_TUNES:
            style = Style((program,), (program,), (), (90, 90), MAJOR, "arpeggio")
            line = to_line(play(style, random.Random(seed), 12.0, Path(tmp)))
            parts.append(scale_to_dbm0(line, -15.0))
    soundfile.write(str(path), np.concatenate(parts), 8000, subtype="ULAW")


SOLO_PROGRAMS = {
    0: "piano",
    4: "electric piano",
    8: "celesta",
    9: "glockenspiel",
    10: "music box",
    11: "vibraphone",
    12: "marimba",
    13: "xylophone",
    14: "tubular bells",
    112: "tinkle bell",
    114: "steel drums",
}
"""General MIDI programs played alone (``--solo``): which instruments the veto tells from speech, and which not."""


def solo_tunes(minutes: float, seed: int) -> dict[str, list[np.ndarray]]:
    """Line-rendered 60 s arpeggios of each SOLO_PROGRAMS instrument alone, ``minutes`` of each, at -15 dBm0."""
    out: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for program, name in SOLO_PROGRAMS.items():
            rng = random.Random(seed * 1000 + program)
            style = Style((program,), (program,), (), (80, 120), MAJOR, "arpeggio")
            out[name] = [
                scale_to_dbm0(to_line(play(style, rng, 60.0, Path(tmp))), -15.0)
                for _ in range(max(1, round(minutes)))
            ]
    return out


def solo(detector: AbuseDetector, tunes_by_instrument: dict[str, list[np.ndarray]]) -> dict[str, list[int]]:
    """Per instrument: [warnings, detections at either tier] on its solo tunes."""
    out = {}
    for name, pieces in tunes_by_instrument.items():
        found = [d for piece in pieces for d in listen(detector, piece)]
        out[name] = [sum(str(d.event.tier) == "warn" for d in found), len(found)]
    return out


def listen(detector: AbuseDetector, pcm: np.ndarray) -> list[Any]:
    """One call's caller leg through the detector, from a fresh start; what it detected."""
    feed(detector, [to_pcm(pcm)])
    return list(detector.detections)


def share_at(pcm: np.ndarray, t: float) -> float:
    """The music veto's measure (edge.dsp.tonality) on the window the detector measures, ending at ``t`` s."""
    end = int(t * 8000)
    return round(steady_share(pcm[max(0, end - round(WINDOW_S * 8000)) : end]), 3)


def _tally(found: list[tuple[str, Any]], shares: list[float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {} if shares is None else {"steady_shares": sorted(shares)}
    for tier in ("warn", "alert"):
        hits = [(style, d) for style, d in found if str(d.event.tier) == tier]
        out[tier] = {
            "count": len(hits),
            "per_class": dict(Counter(d.event.keyword for _s, d in hits)),
            "per_style": dict(Counter(style for style, _d in hits)),
        }
    return out


def alone(detector: AbuseDetector, music: dict[str, list[np.ndarray]], levels: list[float]) -> dict[str, Any]:
    """False alerts and warnings on the music alone at each level (dBm0), 3-minute calls of one style."""
    out: dict[str, Any] = {}
    for level in levels:
        found: list[tuple[str, Any]] = []
        shares: list[float] = []
        speech_s = 0.0
        frames = 0
        for style, pieces in music.items():
            whole = np.concatenate(pieces)
            for start in range(0, whole.size, CALL_S * 8000):
                call = scale_to_dbm0(whole[start : start + CALL_S * 8000], level)
                hits = listen(detector, call)
                found += [(style, d) for d in hits]
                shares += [share_at(call, d.t) for d in hits]
                speech_s += detector.speech_s
                frames += call.size // FRAME
        out[f"{level:g}_dbm0"] = {
            "hours": round(frames * FRAME / 8000 / 3600, 3),
            "speech_s": round(speech_s, 1),
            **_tally(found, shares),
        }
    return out


def _mixed(speech: np.ndarray, music: np.ndarray, below_db: float | None) -> np.ndarray:
    if below_db is None:
        return speech
    bed = np.resize(music, speech.size)
    return speech + bed * 10 ** ((dbm0(speech) - below_db - dbm0(bed)) / 20)


def under(
    detector: AbuseDetector,
    music: dict[str, list[np.ndarray]],
    stream_path: Path,
    hours: float,
    below: list[float],
) -> dict[str, Any]:
    """False alerts and warnings on ordinary speech with the music under it, against the speech alone."""
    held = np.load(stream_path, allow_pickle=True)
    stream = held["stream"][: int(hours * 3600 * 8000)].astype(np.float64)
    said, said_at = held["stream_text"], held["stream_start_s"]
    beds = [(style, piece) for style, pieces in music.items() for piece in pieces]
    out: dict[str, Any] = {"hours": round(stream.size / 8000 / 3600, 3)}
    for below_db in [None, *below]:
        found: list[tuple[str, Any]] = []
        events = []
        for call, start in enumerate(range(0, stream.size - FRAME, CALL_S * 8000)):
            style, bed = beds[call % len(beds)]
            heard = _mixed(stream[start : start + CALL_S * 8000], np.concatenate([bed, bed, bed]), below_db)
            for d in listen(detector, heard):
                found.append((style if below_db is not None else "none", d))
                t = start / 8000 + d.t
                sentence = str(said[max(0, int(np.searchsorted(said_at, t)) - 1)])
                events.append(
                    {
                        "tier": str(d.event.tier),
                        "class": d.event.keyword,
                        "t_s": round(t, 1),
                        "sentence": sentence,
                    }
                )
        name = "speech_alone" if below_db is None else f"music_{below_db:g}_db_under"
        out[name] = {**_tally(found), "events": events}
    return out


def recall(
    detector: AbuseDetector, music: dict[str, list[np.ndarray]], below: list[float], seed: int
) -> dict[str, Any]:
    """Warning and alert recall of every keyword variant over the music, and alone (same voices and words)."""
    groups = tomllib.loads((ROOT / "models" / "keywords.toml").read_text(encoding="utf-8"))["group"]
    rng = random.Random(seed)
    styles = [name for name in music if name != "effects"]  # music, not the sound font's effects
    clips = []
    for group in groups:
        for variant in group["say"]:
            for _ in range(4):
                word = synthesize(variant, voice=rng.choice(VOICES)).astype(np.float64)
                caller = np.concatenate([np.zeros(int(0.8 * 8000)), word, np.zeros(8000)])
                style = rng.choice(styles)
                piece = rng.choice(music[style])
                offset = rng.randrange(max(1, piece.size - caller.size))
                clips.append((group["id"], caller, piece[offset : offset + caller.size], style))
    out: dict[str, Any] = {"clips": len(clips)}
    for below_db in [None, *below]:
        warned = alerted = 0
        shares: list[float] = []
        missed: Counter[str] = Counter()
        for group_id, caller, bed, style in clips:
            loud = caller[np.abs(caller) > 50]
            level = (
                10 * np.log10(np.mean(loud**2) / (np.mean(bed**2) + 1e-9)) if below_db is not None else 0.0
            )
            heard = caller if below_db is None else caller + bed * 10 ** ((level - below_db) / 20)
            found = [d for d in listen(detector, heard) if d.event.keyword == group_id]
            shares += [share_at(heard, d.t) for d in found[:1]]
            warned += any(d.event.tier is Tier.WARN for d in found)
            alerted += bool(found)
            if below_db is not None and not any(d.event.tier is Tier.WARN for d in found):
                missed[style] += 1
        name = "alone" if below_db is None else f"music_{below_db:g}_db_under"
        out[name] = {
            "warned": round(warned / len(clips), 3),
            "alerted": round(alerted / len(clips), 3),
            "steady_shares": sorted(shares),
        }
        if below_db is not None:
            out[name]["unwarned_per_style"] = dict(missed)
    return out


def heldout(detector: AbuseDetector, path: Path) -> dict[str, Any]:
    """What the veto costs on a held-out test set (build.py): its keyword clips and near misses, each from
    silence, and its ordinary-speech stream in 3-minute calls."""
    held = np.load(path, allow_pickle=True)
    names = [c.id for c in detector.classes]
    per_class: dict[str, Counter[str]] = {tier: Counter() for tier in ("warn", "alert", "clips")}
    for pcm, group in zip(held["pos_pcm"], held["pos_group"], strict=True):
        name = names[int(group) - 1]
        tiers = {
            str(d.event.tier) for d in listen(detector, pcm.astype(np.float64)) if d.event.keyword == name
        }
        per_class["clips"][name] += 1
        per_class["warn"][name] += "warn" in tiers
        per_class["alert"][name] += bool(tiers)
    near = [listen(detector, pcm.astype(np.float64)) for pcm in held["near_pcm"]]
    stream = held["stream"].astype(np.float64)
    found = []
    vetoes = detector.tonal_vetoes
    for start in range(0, stream.size - FRAME, CALL_S * 8000):
        found += [("stream", d) for d in listen(detector, stream[start : start + CALL_S * 8000])]
    return {
        "clips": sum(per_class["clips"].values()),
        "warned": sum(per_class["warn"].values()),
        "alerted": sum(per_class["alert"].values()),
        "per_class": {n: [per_class["warn"][n], per_class["alert"][n], per_class["clips"][n]] for n in names},
        "near_misses": len(near),
        "near_warned": sum(any(str(d.event.tier) == "warn" for d in hits) for hits in near),
        "near_alerted": sum(bool(hits) for hits in near),
        "stream_hours": round(stream.size / 8000 / 3600, 2),
        "stream_tonal_vetoes": detector.tonal_vetoes - vetoes,
        **{f"stream_{k}": v["count"] for k, v in _tally(found).items()},
    }


def speech_shares(model: Path | None) -> dict[str, Any]:
    """The veto's measure where the speech side of its threshold lies: at the first detection (veto off) of
    every keyword variant in each held-out voice at two speeds, from silence."""
    config = DetectionConfig(
        inline=True, shouting_enabled=False, calibration_enabled=False, model_path=model, tonal_veto=0.0
    )
    detector, error = load_detector(config)
    if detector is None:
        raise SystemExit(error)
    groups = tomllib.loads((ROOT / "models" / "keywords.toml").read_text(encoding="utf-8"))["group"]
    found = []
    for group in groups:
        for variant in group["say"]:
            for voice in VOICES:
                for speed in (130, 175):
                    word = synthesize(variant, voice=voice, speed=speed).astype(np.float64)
                    clip = np.concatenate([np.zeros(int(0.8 * 8000)), word, np.zeros(8000)])
                    hits = listen(detector, clip)
                    if hits:
                        found.append((share_at(clip, hits[0].t), f"{variant} {voice} {speed}"))
    shares = np.array([v for v, _ in found])
    return {
        "detections": len(found),
        "renders": sum(len(g["say"]) for g in groups) * len(VOICES) * 2,
        "median": round(float(np.median(shares)), 3),
        "p99": round(float(np.percentile(shares, 99)), 3),
        "max": round(float(shares.max()), 3),
        "highest": [f"{what}: {v}" for v, what in sorted(found)[-5:]],
    }


def add_check_options(ap: argparse.ArgumentParser, hours: float) -> None:
    """The options this check shares with recorded_check: the model, the music's levels, the speech it goes
    under (``hours`` of it by default), the veto settings, the output."""
    ap.add_argument("--model", type=Path, default=None, help="model (.json beside); default the shipped one")
    ap.add_argument("--levels", type=float, nargs="*", default=[-15.0, -25.0], help="dBm0 of the music alone")
    ap.add_argument("--stream", type=Path, default=None, help="ordinary speech to mix the music under")
    ap.add_argument("--hours", type=float, default=hours, help="hours of --stream to use")
    ap.add_argument(
        "--below", type=float, nargs="*", default=[10.0, 5.0], help="dB the music is under the speech"
    )
    ap.add_argument(
        "--vetoes",
        type=float,
        nargs="*",
        default=[0.0, DetectionConfig().tonal_veto],
        help="music veto settings to run (0: off; default: off and the shipped setting)",
    )
    ap.add_argument("--out", type=Path, default=None)


def check_detector(model: Path | None, veto: float) -> AbuseDetector:
    """The detector as the checks run it (no shouting cue, no calibration, inference inline) with the music
    veto at ``veto``; exits with the reason if the model cannot be loaded."""
    config = DetectionConfig(
        inline=True,
        shouting_enabled=False,
        calibration_enabled=False,
        model_path=model,
        tonal_veto=veto,
    )
    detector, error = load_detector(config)
    if detector is None:
        raise SystemExit(error)
    return detector


def main() -> None:
    """Print (and write) one JSON object with the measurements asked for."""
    ap = argparse.ArgumentParser(description=__doc__)
    add_check_options(ap, hours=4.0)
    ap.add_argument(
        "--minutes",
        type=float,
        default=15.0,
        help="minutes of each style (60 s tunes); 0: no music (--test-set only)",
    )
    ap.add_argument("--recall", action="store_true", help="keyword variants over the music too")
    ap.add_argument("--solo", type=float, default=0.0, help="minutes of each SOLO_PROGRAMS instrument alone")
    ap.add_argument(
        "--test-set", type=Path, default=None, help="a held-out test.npz: what the veto costs there"
    )
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--fixture", type=Path, default=None, help="only write the tests' music fixture here")
    args = ap.parse_args()
    if args.fixture is not None:
        fixture(args.fixture)
        return
    music = tunes(args.minutes, args.seed) if args.minutes > 0 else {}
    solos = solo_tunes(args.solo, args.seed) if args.solo > 0 else {}
    report: dict[str, Any] = {"minutes_per_style": args.minutes}
    if args.recall:
        report["speech_shares"] = speech_shares(args.model)
    for veto in args.vetoes:
        detector = check_detector(args.model, veto)
        report["model"] = detector.model.info.version
        row: dict[str, Any] = {"alone": alone(detector, music, args.levels)} if music else {}
        if music and args.stream is not None:
            row["under"] = under(detector, music, args.stream, args.hours, args.below)
        if music and args.recall:
            row["recall"] = recall(detector, music, args.below, args.seed)
        if solos:
            row["solo"] = solo(detector, solos)
        if args.test_set is not None:
            row["test_set"] = heldout(detector, args.test_set)
        report[f"tonal_veto_{veto:g}"] = row
    emit(report, args.out)


if __name__ == "__main__":
    main()
