"""The line leg's echo of what the box sends to the line, told apart from the caller frame by frame."""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.dsp.levels import dbm0_to_power
from edge.ports import FRAME_SAMPLES, Pcm

SENT_FLOOR_DBM0 = -45.0
"""Frames sent quieter than this say nothing about the echo: what comes back is the line's own noise."""
LEARN_FRAMES = 50
"""Frames of the box's own prompt, heard back with the caller still, needed before the line's echo is known."""
LEARN_QUANTILE = 0.8
"""The echo's ceiling is this quantile of what came back (plus the margin): a caller who says "여보세요" over
a second of the notice moves it by 2 dB (15 dB measured as 12, against 14 with the caller still)."""
LEARN_MARGIN_DB = 3.0
"""Headroom over the measured ceiling, for the echo path's drift within a call."""
MAX_RETURN_LOSS_DB = 30.0
"""Tighter than this the check never gets: a caller that far under the staff is lost in the line's noise."""


def mean_square(frame: Pcm) -> float:
    """Mean power of a frame in 16-bit PCM units squared."""
    x = frame.astype(np.float64)
    return float(np.dot(x, x) / max(1, x.size))


class EchoGate:
    """Which line-leg frames hold only the echo of the box's own output: the staff's words, or a prompt.

    A line's two-to-four-wire hybrid (the DAA's, and the exchange's) sends part of what the box plays to
    the line straight back on the line leg. G.168 counts on that echo being at least 6 dB below what was
    sent (``return_loss_db``); a DAA on a line it is not matched to gives some 10-20 dB. A line frame
    further below the loudest frame the box sent within ``window_frames`` (the round trip through the
    box's buffers, the codec and the DAA) can only be that echo: the caller is silent. Louder, the caller
    is speaking, alone or over the staff (double talk), and that frame and the next ``hold_frames`` are
    theirs, the quiet parts of their words as well as the loud (a Geigel double-talk test with a hangover).

    How far down the echo really is, the box measures on every call: while its recording notice plays
    and the call is not yet bridged, the caller listens, and what the line returns is the notice's echo
    (``learn``). The check then holds the echo to that level plus 3 dB, never looser than
    ``return_loss_db``: on a line whose echo is 15 dB down, a caller 6 dB under the staff is still heard
    through double talk. A line that returns more than ``return_loss_db`` fails open: its echo reads as
    the caller, and the detector hears it as it would without the check.

    The abuse detector hears the caller only: what it scored of the echo was the staff's own greeting
    ("전화 주셔서 감사합니다" reads as 죽여버린다 to the shipped model), and a warning for it would go to the caller.
    """

    def __init__(self, return_loss_db: float, window_frames: int, hold_frames: int = 25) -> None:
        self.enabled = return_loss_db > 0
        self._loosest = 10.0 ** (-return_loss_db / 10.0)
        self.ceiling = self._loosest
        """Line power over sent power at or under which a frame is the echo (learned, kept across calls)."""
        self._sent: deque[float] = deque(maxlen=max(1, window_frames))
        self._hold = hold_frames
        self._talking = 0
        """Frames left in which the caller is taken to be talking (over the staff) since a frame said so."""
        self._heard: list[float] = []
        """This call's line-to-sent power ratios while the box's prompt played to a silent caller."""
        self._floor = dbm0_to_power(SENT_FLOOR_DBM0)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._silence.flags.writeable = False  # handed out again and again: nobody may write into it
        self.echo_frames = 0
        """Line frames taken for echo and withheld from the detector since the box started."""

    @property
    def return_loss_db(self) -> float:
        """The echo's distance under what was sent that the check holds it to now."""
        return float(-10.0 * np.log10(self.ceiling))

    def reset(self) -> None:
        """A new call: nothing has been sent on it yet (the line's echo level, once learned, stays)."""
        self._sent.clear()
        self._talking = 0
        self._heard = []

    def sent(self, frame: Pcm) -> None:
        """Note a frame the box played to the line."""
        self._sent.append(mean_square(frame))

    def learn(self, frame: Pcm) -> None:
        """A line frame heard while only the box speaks to the line (its prompt, before the bridge)."""
        sent = max(self._sent, default=0.0)
        if not self.enabled or len(self._heard) >= 10 * LEARN_FRAMES or sent < self._floor:
            return
        self._heard.append(mean_square(frame) / sent)
        if len(self._heard) >= LEARN_FRAMES:
            measured = float(np.quantile(self._heard, LEARN_QUANTILE)) * 10.0 ** (LEARN_MARGIN_DB / 10.0)
            self.ceiling = min(self._loosest, max(measured, 10.0 ** (-MAX_RETURN_LOSS_DB / 10.0)))

    def is_echo(self, frame: Pcm) -> bool:
        """Whether this line frame is too quiet, against what was just sent, to be anything but its echo
        with the caller silent."""
        sent = max(self._sent, default=0.0)
        if not self.enabled or sent < self._floor:
            return False  # nothing sent above the line's noise: nothing can have come back
        if mean_square(frame) > sent * self.ceiling:
            self._talking = self._hold
            return False
        if self._talking > 0:
            self._talking -= 1
            return False
        return True

    def caller_only(self, frame: Pcm) -> Pcm:
        """The line frame as the caller's: digital silence where it is only the echo (counted)."""
        if not self.is_echo(frame):
            return frame
        self.echo_frames += 1
        return self._silence[: frame.size]
