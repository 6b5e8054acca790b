"""The line leg's echo of what the box sends to the line, told apart from the caller frame by frame."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from edge.dsp.levels import dbm0_to_power, to_pcm
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
NOISE_CREEP = 10 ** (0.4 / 10 / 50)
"""Per-frame rise of the noise-floor estimate (0.4 dB a second) when the line is louder than it."""
NOISE_MARGIN = 4.0
"""A frame must be this much (6 dB) over the line's noise to count as the caller while the box speaks: once
the canceller has taken the echo 30 dB down, what is left is mostly the line's hiss, which is not a caller."""
MAX_RETURN_LOSS_DB = 30.0
"""Tighter than this the check never gets: a caller that far under the staff is lost in the line's noise."""
SHADOW_FRAMES = 25
"""Frames the canceller's shadow filter is judged over (0.5 s of frames the working filter may be wrong about)."""
SHADOW_WIN_DB = 6.0
"""How much less echo the shadow must leave over those frames to replace the working filter."""


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
        self._noise = 0.0
        """The line's noise floor (mean square), tracked on every frame judged."""

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

    def sending(self) -> bool:
        """Whether the box sent anything above the line's noise within the window (an echo may be heard)."""
        return max(self._sent, default=0.0) >= self._floor

    def could_be_echo(self, power: float) -> bool:
        """Whether a line frame of this power is quiet enough, against what was just sent, to be its echo at the
        configured ``return_loss_db`` (the loosest the check ever is), whatever the check learned since."""
        sent = max(self._sent, default=0.0)
        return self.enabled and sent >= self._floor and power <= sent * self._loosest

    def relax(self) -> None:
        """Forget the learned echo level: back to ``return_loss_db`` until the next notice measures it."""
        self.ceiling = self._loosest

    def learn(self, power: float) -> None:
        """The power of a line frame heard while only the box speaks to the line (its prompt, before the bridge)."""
        sent = max(self._sent, default=0.0)
        if not self.enabled or len(self._heard) >= 10 * LEARN_FRAMES or sent < self._floor:
            return
        self._heard.append(power / sent)
        if len(self._heard) >= LEARN_FRAMES:
            measured = float(np.quantile(self._heard, LEARN_QUANTILE)) * 10.0 ** (LEARN_MARGIN_DB / 10.0)
            self.ceiling = min(self._loosest, max(measured, 10.0 ** (-MAX_RETURN_LOSS_DB / 10.0)))

    def is_echo(self, power: float) -> bool:
        """Whether a line frame of this power (``mean_square``) is too quiet, against what was just sent, to
        be anything but its echo with the caller silent."""
        # The line's own noise: falls at once to a quieter frame, creeps back up 0.4 dB a second.
        self._noise = max(1.0, min(power, self._noise * NOISE_CREEP)) if self._noise > 0 else max(1.0, power)
        sent = max(self._sent, default=0.0)
        if not self.enabled or sent < self._floor:
            return False  # nothing sent above the line's noise: nothing can have come back
        # Louder than the echo can be, and clear of the line's noise (6 dB): the caller.
        if power > max(sent * self.ceiling, NOISE_MARGIN * self._noise):
            self._talking = self._hold
            return False
        if self._talking > 0:
            self._talking -= 1
            return False
        return True

    def silence(self, samples: int) -> Pcm:
        """Digital silence in place of a frame of echo alone (shared, read-only)."""
        return self._silence[:samples]


class EchoCanceller:
    """Subtracts the line's echo of what the box sent: a partitioned-block frequency-domain NLMS filter.

    One 20 ms block per partition, ``tail_frames`` partitions: the echo path may reach that far back (the
    box's buffers, the codec, the DAA's hybrid and the line's reflections). Overlap-save with the
    gradient constrained to the filter's length, each bin's step normalised by that bin's recent power
    (Haykin's FBLMS, partitioned as in Speex's MDF canceller). It adapts only when told (the box alone
    speaking to a silent caller: its prompts, the staff), so a caller talking over them does not pull
    the filter off. The filter is kept from call to call: the same line has much the same echo.

    A shadow filter (the two-path canceller of Ochiai et al.) follows an echo path that changes under the
    working filter: ``try_shadow`` adapts it on frames the working filter may be wrong about, and
    ``promote_shadow`` makes it the working filter once it leaves clearly less. A caller's voice is in both
    filters' residuals and no filter of what was sent can take it off, so double talk does not promote it.
    """

    def __init__(self, tail_frames: int, step: float = 0.5) -> None:
        self._n = FRAME_SAMPLES
        bins = self._n + 1
        self._parts = max(1, tail_frames)
        self._step = step
        self._x = np.zeros((self._parts, bins), dtype=np.complex128)
        self._w = np.zeros((self._parts, bins), dtype=np.complex128)
        self._shadow = np.zeros((self._parts, bins), dtype=np.complex128)
        self._power = np.zeros(bins)
        self._previous = np.zeros(self._n)
        self._error = np.zeros(self._n)
        self._floor = dbm0_to_power(SENT_FLOOR_DBM0) * self._n * 2.0
        self.adaptations = 0
        """Blocks the filter has learned from since the box started."""

    def reset(self) -> None:
        """A new call: forget what was sent (the filter, the line's echo path, is kept)."""
        self._x[:] = 0
        self._power[:] = 0
        self._previous[:] = 0

    def sent(self, frame: Pcm) -> None:
        """Note a frame the box played to the line (after ``cancel`` of the frame heard at the same time)."""
        block = frame.astype(np.float64)
        spectrum = np.fft.rfft(np.concatenate((self._previous, block)))
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = spectrum
        self._previous = block
        self._power = 0.9 * self._power + 0.1 * np.abs(spectrum) ** 2

    def _predicted(self, weights: npt.NDArray[np.complex128]) -> npt.NDArray[np.float64]:
        return np.asarray(np.fft.irfft((weights * self._x).sum(axis=0), 2 * self._n)[self._n :], np.float64)

    def cancel(self, frame: Pcm) -> npt.NDArray[np.float64]:
        """The line frame less the echo the filter predicts from what was sent before it."""
        self._error = frame.astype(np.float64) - self._predicted(self._w)
        return self._error

    def forget(self) -> None:
        """Drop the learned echo path (it made things worse: the line changed under it)."""
        self._w[:] = 0
        self._shadow[:] = 0

    def try_shadow(self, frame: Pcm) -> tuple[float, float]:
        """Adapt the shadow filter on the frame last cancelled; the working filter's and the shadow's residual
        power on it (the shadow's before it learned from the frame, so the two are compared fairly)."""
        error = frame.astype(np.float64) - self._predicted(self._shadow)
        self._learn(self._shadow, error)
        return float(np.mean(self._error**2)), float(np.mean(error**2))

    def promote_shadow(self) -> None:
        """The shadow filter becomes the working one: it follows the line's echo path better."""
        self._w[:] = self._shadow

    def restart_shadow(self) -> None:
        """Start the shadow filter again from the working one (double talk pulled it off)."""
        self._shadow[:] = self._w

    def taps(self) -> npt.NDArray[np.float64]:
        """The echo path as learned: sample 0 is the first of the frame sent just before the frame heard."""
        return np.asarray(np.fft.irfft(self._w, 2 * self._n, axis=1)[:, : self._n].reshape(-1), np.float64)

    def adapt(self) -> None:
        """Learn from the last ``cancel``: what was left of the line frame was echo only."""
        self._learn(self._w, self._error)
        self.adaptations += 1

    def _learn(self, weights: npt.NDArray[np.complex128], residual: npt.NDArray[np.float64]) -> None:
        error = np.fft.rfft(np.concatenate((np.zeros(self._n), residual)))
        norm = self._parts * self._power + self._floor
        gradient = np.fft.irfft(np.conj(self._x) * (error / norm), 2 * self._n, axis=1)
        gradient[:, self._n :] = 0.0  # the filter is N taps per partition: keep the update causal and short
        weights += self._step * np.fft.rfft(gradient, axis=1)


class LineEcho:
    """The caller leg without the box's own echo: the canceller's residual, and the check on what is left.

    Every frame the line is live in a call goes through ``heard``: before the bridge (the recording notice
    playing to a listening caller) the check learns the line's echo level and the canceller its echo path;
    after it the detector gets what ``heard`` returns. A frame the check takes for echo alone teaches the
    canceller and reaches the detector as silence; any other frame is the caller's, less the echo.
    """

    def __init__(
        self, return_loss_db: float, window_frames: int, tail_frames: int, hold_frames: int = 25
    ) -> None:
        self.gate = EchoGate(return_loss_db, window_frames, hold_frames)
        self.canceller = EchoCanceller(tail_frames) if self.gate.enabled and tail_frames > 0 else None
        self._in = 0.0
        self._out = 0.0
        self._heard = 0.0
        self._left = 0.0
        self._guarded = 0
        self.resets = 0
        """Times the canceller's echo path was dropped because it added echo instead of taking it off."""
        self.swaps = 0
        """Times the shadow filter replaced the working one: the line's echo path changed and was learned again."""
        self._tried = 0
        """Frames the shadow filter was tried on since it was last judged."""
        self._working_left = 0.0
        self._shadow_left = 0.0
        """The working filter's and the shadow's residual power summed over those frames."""
        self.echo_frames = 0
        """Bridged line frames withheld from the detector as echo alone since the box started."""

    @property
    def return_loss_db(self) -> float:
        """The echo's level under what was sent that the check holds it to now (after the canceller)."""
        return self.gate.return_loss_db

    @property
    def cancelled_db(self) -> float | None:
        """How far the canceller has brought the echo down on the frames it learned from (ERLE); None when off."""
        if self.canceller is None or self._out <= 0.0:
            return None
        return float(10.0 * np.log10(max(self._in, 1e-9) / self._out))

    @property
    def delay_ms(self) -> float | None:
        """Where the learned echo path is strongest, in ms after the box sent it; None before it learned."""
        if self.canceller is None or self.canceller.adaptations == 0:
            return None
        strongest = int(np.argmax(np.abs(self.canceller.taps())))
        return (FRAME_SAMPLES + strongest) / 8.0  # tap 0 is the frame sent just before the frame heard

    def _guard(self, heard: float, residual: float) -> None:
        """Start the canceller again if what it leaves is louder than what it was given (its path is wrong).

        A right filter only ever takes power off, the caller's speech or not; one that adds it learned a
        path the line no longer has, and the check, tuned to its residual, would read the doubled echo as
        the caller and never let it learn again.
        """
        self._heard = 0.95 * self._heard + 0.05 * heard
        self._left = 0.95 * self._left + 0.05 * residual
        self._guarded += 1
        if self._guarded >= 25 and self._left > 2.0 * self._heard and self.canceller is not None:
            self.canceller.forget()
            self.gate.relax()
            self._heard = self._left = self._in = self._out = 0.0
            self._guarded = 0
            self._new_trial()  # both filters start again from nothing: the sums so far no longer count
            self.resets += 1

    def _try_shadow(self, frame: Pcm) -> None:
        """A frame the check takes for the caller that may be echo the working filter no longer follows.

        The line may have moved to another circuit (its hybrid rings differently): the working filter
        then leaves more echo than the learned check allows, so it reads as the caller, and the filter,
        which learns only from echo alone, would never learn the new path. The guard catches a path that
        leaves more than it is given; this catches the rest. The frame may as well be a caller talking
        under the staff: then neither filter takes it off, and the shadow does not win.
        """
        assert self.canceller is not None
        working, shadow = self.canceller.try_shadow(frame)
        self._working_left += working
        self._shadow_left += shadow
        self._tried += 1
        if self._tried < SHADOW_FRAMES:
            return
        if self._shadow_left * 10.0 ** (SHADOW_WIN_DB / 10.0) < self._working_left:
            self.canceller.promote_shadow()
            self.swaps += 1
        elif self._shadow_left > self._working_left:
            self.canceller.restart_shadow()
        self._new_trial()

    def _new_trial(self) -> None:
        """Judge the shadow filter afresh from the next frame it is tried on."""
        self._tried, self._working_left, self._shadow_left = 0, 0.0, 0.0

    def reset(self) -> None:
        """A new call."""
        self.gate.reset()
        if self.canceller is not None:
            self.canceller.reset()

    def sent(self, frame: Pcm) -> None:
        """Note a frame the box played to the line."""
        self.gate.sent(frame)
        if self.canceller is not None:
            self.canceller.sent(frame)

    def heard(self, frame: Pcm, bridged: bool) -> Pcm:
        """A line frame in: the caller's part of it out (silence where it is echo alone)."""
        residual = frame if self.canceller is None else to_pcm(self.canceller.cancel(frame))
        heard, left = mean_square(frame), mean_square(residual)
        if self.canceller is not None and self.gate.sending():
            self._guard(heard, left)
        if not bridged:
            self.gate.learn(left)
        if not self.gate.is_echo(left):
            if self.canceller is not None and self.gate.could_be_echo(heard):
                self._try_shadow(frame)
            return residual
        if self.canceller is not None:
            self.canceller.adapt()
            self._in = 0.99 * self._in + 0.01 * heard
            self._out = 0.99 * self._out + 0.01 * left
        if bridged:
            self.echo_frames += 1
        return self.gate.silence(frame.size)
