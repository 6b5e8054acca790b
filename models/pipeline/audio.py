"""espeak-ng Korean synthesis and the telephone-line augmentation chain, in the order the line applies it."""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal

from edge.detect.features import LINE_BAND_HZ
from edge.dsp import levels

Audio = npt.NDArray[np.float32]
ESPEAK_RATE = 22050
WORK_RATE = 16000
LINE_RATE = 8000

# Voice variants that sound like a person; every fifth is held out for testing (voices never trained on).
VOICES = [
    "",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "klatt6",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "Denis",
    "ed",
    "edward",
    "Gene",
    "grandpa",
    "grandma",
    "Henrique",
    "Hugo",
    "iven",
    "iven3",
    "Jacky",
    "john",
    "Lee",
    "linda",
    "max",
    "Michael",
    "Mike",
    "norbert",
    "pablo",
    "paul",
    "quincy",
    "rob",
    "robert",
    "steph",
    "steph3",
    "travis",
    "victor",
    "zac",
    "anika",
    "whisper",
    "shelby",
    "sandro",
    "marcelo",
    "miguel",
    "michel",
    "Marco",
    "Diogo",
]


def voices(test: bool) -> list[str]:
    """Train or held-out test voice variants."""
    return [v for i, v in enumerate(VOICES) if (i % 5 == 4) == test]


@dataclass(frozen=True)
class Voice:
    """One espeak-ng rendering style."""

    variant: str
    pitch: int
    speed: int
    gap: int
    data_path: str = ""
    """A private espeak-ng data folder holding generated timbres (see :func:`prepare_timbres`)."""

    def args(self) -> list[str]:
        """espeak-ng options for this voice."""
        v = "ko" + (f"+{self.variant}" if self.variant else "")
        path = [f"--path={self.data_path}"] if self.data_path else []
        return [*path, "-v", v, "-p", str(self.pitch), "-s", str(self.speed), "-g", str(self.gap)]


TIMBRE_PREFIX = "lgr"


def timbre_variant(rng: random.Random) -> str:
    """The text of one random espeak-ng voice variant: a speaker no shipped variant describes.

    A shared vocal-tract scale moves formants 0-5 together (with a little independent jitter each), and
    formant strengths and widths, pitch range, voicing, consonant strength, tone and roughness are drawn
    independently; a fifth use the Klatt synthesiser. Held-out voices differed from trained ones exactly in
    these (recall 0.26-0.81 by variant), so the set of speakers is widened rather than repeated.
    """
    tract = rng.uniform(0.82, 1.22)
    base = rng.randint(70, 230)
    lines = ["language variant", f"name {TIMBRE_PREFIX}", f"pitch {base} {base + rng.randint(15, 160)}"]
    for k in range(9):
        freq = 100 * (tract * rng.uniform(0.93, 1.07) if k <= 5 else rng.uniform(0.9, 1.1))
        lines.append(f"formant {k} {round(freq)} {rng.randint(55, 150)} {rng.randint(70, 170)}")
    lines += [
        f"voicing {rng.randint(40, 120)}",
        f"consonants {rng.randint(50, 130)} {rng.randint(50, 130)}",
        f"flutter {rng.choice([0, 0, 2, 5, 10, 20])}",
        f"roughness {rng.choice([0, 0, 0, 1, 2, 4])}",
        f"tone 600 {rng.randint(80, 255)} 1200 {rng.randint(60, 255)} 2000 {rng.randint(40, 255)}",
    ]
    if rng.random() < 0.2:
        lines.append(f"klatt {rng.randint(1, 4)}")
    return "\n".join(lines) + "\n"


def system_espeak_data() -> Path:
    """The system's espeak-ng-data folder (as espeak-ng reports it)."""
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    return Path(out.split("Data at:")[1].strip())


def prepare_timbres(folder: Path, count: int, seed: int) -> list[str]:
    """A private espeak-ng data folder (a copy of the system's) with ``count`` generated timbres.

    Returns the variant names; a Voice with ``data_path=str(folder)`` and one of them speaks with it.
    The same seed always writes the same timbres.
    """
    data = folder / "espeak-ng-data"
    if not data.exists():
        tmp = folder / "espeak-ng-data.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(system_espeak_data(), tmp)
        tmp.rename(data)
    rng = random.Random(seed)
    names = []
    for i in range(count):
        name = f"{TIMBRE_PREFIX}{i:04d}"
        (data / "voices" / "!v" / name).write_text(timbre_variant(rng), encoding="utf-8")
        names.append(name)
    return names


def random_timbre_voice(rng: random.Random, folder: Path, names: list[str]) -> Voice:
    """A generated timbre with random pitch, speed and word gap (as :func:`random_voice`)."""
    return Voice(
        rng.choice(names),
        rng.randint(20, 80),
        rng.randint(110, 220),
        rng.choice([0, 0, 1, 3, 6]),
        str(folder),
    )


def random_voice(rng: random.Random, test: bool) -> Voice:
    """A voice variant with random pitch, speed and word gap."""
    return Voice(
        rng.choice(voices(test)), rng.randint(20, 80), rng.randint(110, 220), rng.choice([0, 0, 1, 3, 6])
    )


def speak(text: str, voice: Voice) -> Audio:
    """Render Korean text with espeak-ng; float32 at 22.05 kHz."""
    out = subprocess.run(
        ["espeak-ng", *voice.args(), "--stdout", text], capture_output=True, check=True, timeout=30
    ).stdout
    return np.frombuffer(out[44 : 44 + (len(out) - 44) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def voiced_end(x: Audio, rate: int = ESPEAK_RATE) -> float:
    """Seconds to the end of the last audible 10 ms in x (trailing silence ignored)."""
    hop = rate // 100
    n = x.size // hop
    if n == 0:
        return 0.0
    energy = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    loud = np.nonzero(energy > max(1e-3, energy.max() * 0.03))[0]
    return float((loud[-1] + 1) * hop / rate) if loud.size else 0.0


def resample(x: Audio, src: float, dst: float) -> Audio:
    """Polyphase resampling by a rational approximation of dst/src."""
    ratio = Fraction(dst / src).limit_denominator(1000)
    return signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> Audio:
    """1/f noise by spectral shaping."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n).astype(np.float32)


def hum(n: int, rng: np.random.Generator, rate: int = WORK_RATE) -> Audio:
    """Mains hum with harmonics at 50 or 60 Hz."""
    t = np.arange(n) / rate
    base = rng.choice([50.0, 60.0])
    return sum(
        (rng.uniform(0.2, 1.0) / k) * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.28))
        for k in (1, 2, 3, 5)
    ).astype(np.float32)


def mulaw(x: Audio) -> Audio:
    """G.711 mu-law round trip (8-bit companding) of float audio in [-1, 1]."""
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round(y * 127.0) / 127.0
    return (np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu).astype(np.float32)


def alaw(x: Audio) -> Audio:
    """G.711 A-law round trip (8-bit companding) of float audio in [-1, 1]."""
    a = 87.6
    ax = np.abs(x)
    y = np.where(
        ax < 1 / a, a * ax / (1 + np.log(a)), (1 + np.log(np.maximum(a * ax, 1e-12))) / (1 + np.log(a))
    )
    q = np.round(y * 127.0) / 127.0
    inv = np.where(q < 1 / (1 + np.log(a)), q * (1 + np.log(a)) / a, np.exp(q * (1 + np.log(a)) - 1) / a)
    return (np.sign(x) * inv).astype(np.float32)


def g711(x: Audio, rng: np.random.Generator) -> Audio:
    """``x`` through a G.711 round trip, mu-law or A-law drawn evenly, as a line codes it."""
    return mulaw(x) if rng.random() < 0.5 else alaw(x)


# The band the detector's front end filters to (features.LINE_BAND_HZ), here at the chain's 16 kHz.
_BAND = signal.butter(4, LINE_BAND_HZ, btype="bandpass", fs=WORK_RATE, output="sos")


def line_chain(
    x: Audio,
    rng: np.random.Generator,
    babble: Audio | None = None,
    strength: float = 1.0,
    speed: float = 1.0,
    band: bool = True,
    music: Audio | None = None,
) -> Audio:
    """espeak audio (22.05 kHz) -> what the box hears at 8 kHz, in the order the line applies it.

    speed/pitch, reverb, noise 0-20 dB (babble, pink, hum), gain and clipping, 300-3400 Hz band,
    8 kHz, G.711 mu-law or A-law round trip, dropped 20 ms frames. ``speed`` > 1 plays faster (times / speed).
    ``band`` False skips the band-pass (a wideband line or recording); it draws no random numbers, so the
    same seed renders the same clips with and without it. ``music`` (16 kHz) is the noise instead of the
    drawn kind when given (music under the speech); None draws exactly as before the option.
    """
    y = resample(x, ESPEAK_RATE * speed, WORK_RATE)
    if rng.random() < 0.7 * strength:
        rt60 = rng.uniform(0.05, 0.5)
        n = int(rt60 * WORK_RATE)
        ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * np.arange(n) / n).astype(np.float32)
        ir[0] = 1.0 / rng.uniform(0.05, 0.4)
        wet = signal.fftconvolve(y, ir)[: y.size].astype(np.float32)
        y = wet / (np.abs(wet).max() + 1e-9) * (np.abs(y).max() + 1e-9)
    if rng.random() < 0.9 * max(strength, 0.3):
        kind = (
            "music"
            if music is not None
            else rng.choice(
                ["babble", "pink", "hum", "pink"] if babble is not None else ["pink", "hum", "pink"]
            )
        )
        if kind == "music" and music is not None:
            start = rng.integers(0, max(1, music.size - y.size))
            noise = np.resize(music[start : start + y.size], y.size).astype(np.float32)
        elif kind == "babble" and babble is not None:
            start = rng.integers(0, max(1, babble.size - y.size))
            noise = np.resize(babble[start : start + y.size], y.size).astype(np.float32)
        elif kind == "hum":
            noise = hum(y.size, rng)
        else:
            noise = pink_noise(y.size, rng)
        snr = rng.uniform(0.0, 20.0) if strength >= 1.0 else rng.uniform(10.0, 30.0)
        ps = float((y**2).mean()) + 1e-12
        pn = float((noise**2).mean()) + 1e-12
        y = y + noise * np.float32(np.sqrt(ps / pn / 10 ** (snr / 10)))
    peak = float(np.abs(y).max()) + 1e-9
    level = 10 ** (rng.uniform(-30.0, 3.0 if strength >= 1.0 else -3.0) / 20)
    y = np.clip(y / peak * level, -1.0, 1.0)
    if band:
        y = signal.sosfilt(_BAND, y).astype(np.float32)
    y = resample(y, WORK_RATE, LINE_RATE)
    y = g711(y, rng)
    if rng.random() < 0.3 * strength:
        frames = y.size // 160
        drop = rng.random(frames) < rng.uniform(0.0, 0.03)
        for i in np.nonzero(drop)[0]:
            y[i * 160 : (i + 1) * 160] = 0.0
    return y.astype(np.float32)


def to_pcm(x: Audio) -> npt.NDArray[np.int16]:
    """float [-1, 1] -> int16."""
    return levels.to_pcm(x * 32767.0)
