"""The audio path inside the box: bridges the legs and mixes prompts and tones into them, 20 ms at a time."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from edge.core.events import Leg
from edge.ports import FRAME_SAMPLES, AudioFrame, Pcm

MIRROR_GAIN = 0.5
"""Staff hear the prompts played to the caller, 6 dB down, so they know what the caller was told."""
ALERT_FRAMES = 15
"""The staff alert tone lasts 0.3 s."""


class FrameSource(Protocol):
    """A generator of 20 ms frames (a call-progress tone)."""

    def next_frame(self) -> Pcm:
        """The next 20 ms."""


ToneFactory = Callable[[str], FrameSource]


class Mixer:
    """Bridge, prompt and tones for one line; ``mix`` returns what each leg hears and any finished prompt."""

    def __init__(self, tones: ToneFactory) -> None:
        self._tone_factory = tones
        self.bridged = False
        self._prompt: tuple[str, Pcm, Leg] | None = None
        self._prompt_pos = 0
        self._tones: dict[Leg, FrameSource] = {}
        self._oneshots: dict[Leg, tuple[FrameSource, int]] = {}
        self._phone_signals: deque[Pcm] = deque()
        self._phone_signal: tuple[Pcm, int] | None = None

    @property
    def playing(self) -> str | None:
        """The prompt playing now, if any."""
        return self._prompt[0] if self._prompt else None

    def play_prompt(self, name: str, pcm: Pcm, leg: Leg) -> None:
        """Start a prompt (replacing any playing one)."""
        self._prompt = (name, pcm, leg)
        self._prompt_pos = 0

    def stop_prompt(self) -> None:
        """Stop the prompt without reporting it finished."""
        self._prompt = None

    def start_tone(self, tone: str, leg: Leg) -> None:
        """A continuous cadenced tone on one leg until ``stop_tones``."""
        self._tones[leg] = self._tone_factory(tone)

    def stop_tones(self) -> None:
        """Stop the continuous tones."""
        self._tones.clear()

    def play_tone(self, tone: str, leg: Leg) -> None:
        """A short tone on one leg only."""
        self._oneshots[leg] = (self._tone_factory(tone), ALERT_FRAMES)

    def send_to_phone(self, pcm: Pcm) -> None:
        """Queue a signal for the desk phone alone (caller ID FSK); safe to call from the board's thread."""
        self._phone_signals.append(pcm)

    def mix(self, frame: AudioFrame) -> tuple[Pcm, Pcm, str | None]:
        """What the line and the phone hear for this frame, and the prompt that just finished, if any."""
        line = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        phone = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        if self.bridged:
            line += frame.phone
            phone += frame.line
        finished = None
        if self._prompt is not None:
            name, pcm, leg = self._prompt
            chunk = pcm[self._prompt_pos : self._prompt_pos + FRAME_SAMPLES].astype(np.float64)
            self._prompt_pos += FRAME_SAMPLES
            if leg == Leg.LINE:
                line[: len(chunk)] += chunk
                phone[: len(chunk)] += MIRROR_GAIN * chunk
            else:
                phone[: len(chunk)] += chunk
            if self._prompt_pos >= len(pcm):
                self._prompt = None
                finished = name
        if self._phone_signal is None and self._phone_signals:
            self._phone_signal = (self._phone_signals.popleft(), 0)
        if self._phone_signal is not None:
            pcm, pos = self._phone_signal
            chunk = pcm[pos : pos + FRAME_SAMPLES].astype(np.float64)
            phone[: len(chunk)] += chunk
            self._phone_signal = (pcm, pos + FRAME_SAMPLES) if pos + FRAME_SAMPLES < len(pcm) else None
        for leg, source in self._tones.items():
            (line if leg == Leg.LINE else phone)[:] += source.next_frame()
        for leg, (source, left) in list(self._oneshots.items()):
            (line if leg == Leg.LINE else phone)[:] += source.next_frame()
            if left <= 1:
                del self._oneshots[leg]
            else:
                self._oneshots[leg] = (source, left - 1)
        return _pcm(line), _pcm(phone), finished


def _pcm(x: np.ndarray) -> Pcm:
    return np.asarray(np.clip(x, -32768, 32767), dtype=np.int16)
