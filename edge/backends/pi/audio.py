"""The codec's full-duplex stereo stream (left = line, right = phone) as 8 kHz 20 ms frames, via sounddevice."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.backends.pi.settings import PiConfig
from edge.dsp.levels import to_pcm
from edge.ports import FRAME_SAMPLES, SAMPLE_RATE, AudioFrame, Pcm

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]

CUTOFF_HZ = 3700.0
"""Low-pass edge for both directions: keeps the telephone band, removes what would alias at 8 kHz."""


def lowpass(rate: int, factor: int) -> Floats:
    """A windowed-sinc low-pass for resampling between ``rate`` and ``rate / factor``, unity DC gain."""
    taps = 16 * factor + 1
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * CUTOFF_HZ / rate * n) * np.kaiser(taps, 8.0)
    result: Floats = h / h.sum()
    return result


class Decimator:
    """Streams audio down by an integer factor (filter, then keep every ``factor``-th sample).

    ``x`` is one channel (1-D) or samples × channels. Only the kept samples are computed (one dot product
    each over a window of the input), so the cost follows the 8 kHz output, not the codec-rate input.
    """

    def __init__(self, rate: int, factor: int) -> None:
        self._factor = factor
        h = lowpass(rate, factor) if factor > 1 else np.ones(1)
        self._reversed: Floats = h[::-1].copy()
        self._history: Floats | None = None
        self._phase = 0

    def process(self, x: Floats) -> Floats:
        """The output samples that ``x`` completes (same number of dimensions as ``x``)."""
        if self._factor == 1 or len(x) == 0:
            return x.astype(np.float64)
        taps = len(self._reversed)
        frames = x.reshape(len(x), -1)
        if self._history is None or self._history.shape[1] != frames.shape[1]:
            self._history = np.zeros((taps - 1, frames.shape[1]))
        buf = np.concatenate([self._history, frames])
        windows = np.lib.stride_tricks.sliding_window_view(buf, taps, axis=0)[self._phase :: self._factor]
        out: Floats = windows @ self._reversed
        self._history = buf[len(buf) - (taps - 1) :]
        self._phase = (self._phase - len(x)) % self._factor
        return out.reshape(-1) if x.ndim == 1 else out


class Interpolator:
    """Streams audio up by an integer factor (the polyphase form of zero-stuffing, then filtering).

    Output sample ``n * factor + r`` is ``sum_j x[n - j] * h[j * factor + r]``: the zeros are never multiplied.
    ``x`` is one channel (1-D) or samples × channels.
    """

    def __init__(self, rate: int, factor: int) -> None:
        self._factor = factor
        h = lowpass(rate, factor) * factor if factor > 1 else np.ones(1)
        length = -(-len(h) // factor)
        padded = np.zeros(length * factor)
        padded[: len(h)] = h
        # phases[j, r] = h[j * factor + r], rows in the order the reversed input windows need them.
        self._phases: Floats = padded.reshape(length, factor)[::-1].copy()
        self._history: Floats | None = None

    def process(self, x: Floats) -> Floats:
        """``len(x) * factor`` output samples (same number of dimensions as ``x``)."""
        if self._factor == 1 or len(x) == 0:
            return x.astype(np.float64)
        length = len(self._phases)
        frames = x.reshape(len(x), -1)
        channels = frames.shape[1]
        if self._history is None or self._history.shape[1] != channels:
            self._history = np.zeros((length - 1, channels))
        buf = np.concatenate([self._history, frames])
        windows = np.lib.stride_tricks.sliding_window_view(buf, length, axis=0)  # (n, channels, length)
        out: Floats = (windows @ self._phases).transpose(0, 2, 1).reshape(-1, channels)
        self._history = buf[len(buf) - (length - 1) :]
        return out.reshape(-1) if x.ndim == 1 else out


PLAYBACK_PRIME_FRAMES = 2
"""20 ms frames queued before playback (re)starts: 40 ms of jitter cushion towards the device."""


class AudioUnavailableError(RuntimeError):
    """The sound device could not be opened; the message names the device and how to list devices."""


class PiAudio:
    """Full-duplex codec stream resampled to 8 kHz frames, with bounded queues both ways.

    The sound-device callback only copies blocks in and out; resampling happens in ``read``/``write`` on the
    caller's thread, so a slow consumer costs dropped frames (counted), never a stalled device.
    """

    def __init__(self, settings: PiConfig, device: str | None = None) -> None:
        self._settings = settings
        self._device = device if device is not None else settings.audio_device
        self._rate = settings.codec_rate
        self._factor = self._rate // SAMPLE_RATE
        blocks_per_frame = max(1.0, FRAME_SAMPLES * self._factor / settings.blocksize)
        self._raw_in: deque[npt.NDArray[np.int16]] = deque(
            maxlen=max(2, int(settings.queue_frames * blocks_per_frame))
        )
        self._out_blocks: deque[npt.NDArray[np.int16]] = deque(maxlen=settings.queue_frames)
        self._out_rest: npt.NDArray[np.int16] = np.zeros((0, 2), dtype=np.int16)
        self._out_lock = threading.Lock()
        self._out_primed = False
        self._data_ready = threading.Event()
        self._down = Decimator(self._rate, self._factor)
        self._up = Interpolator(self._rate, self._factor)
        self._acc: Floats = np.zeros((0, 2))
        self._frames: deque[AudioFrame] = deque()
        self._stream: Any = None
        self._last_callback = 0.0
        self._opened_at = 0.0
        self._state_lock = threading.Lock()
        self._restarting: threading.Thread | None = None
        self._closed = False
        self.frames_captured = 0
        """8 kHz frames handed to the appliance so far (the audio loop's progress)."""
        self.frames_played = 0
        """8 kHz frames accepted by ``write``."""
        self.input_overflows = 0
        """Device-reported capture overruns plus blocks dropped because ``read`` fell behind."""
        self.output_underflows = 0
        """Device-reported playback underruns plus callbacks that found too little queued audio."""
        self.output_dropped = 0
        """Frames dropped because ``write`` ran ahead of the device."""
        self.restarts = 0
        """Times the stream was reopened after a stall or an error."""
        self.last_error = ""

    # -- device side -------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open and start the stream; raises AudioUnavailableError with the reason."""
        import sounddevice as sd

        with self._state_lock:
            if self._stream is not None or self._closed:
                return
            try:
                stream = sd.Stream(
                    samplerate=self._rate,
                    blocksize=self._settings.blocksize,
                    device=self._device,
                    channels=2,
                    dtype="int16",
                    callback=self._callback,
                )
                stream.start()
            except (sd.PortAudioError, ValueError) as exc:
                self.last_error = f"{exc}"
                raise AudioUnavailableError(
                    f"sound device {self._device!r} at {self._rate} Hz could not be opened ({exc}); "
                    "list the devices with 'python -m sounddevice' and set [pi].audio_device"
                ) from None
            self._stream = stream
            self._opened_at = self._last_callback = time.monotonic()

    def _callback(self, indata: Any, outdata: Any, frames: int, when: Any, status: Any) -> None:
        self._last_callback = time.monotonic()
        if status.input_overflow:
            self.input_overflows += 1
        if status.output_underflow:
            self.output_underflows += 1
        if len(self._raw_in) == self._raw_in.maxlen:
            self.input_overflows += 1
        self._raw_in.append(np.array(indata, dtype=np.int16, copy=True))
        self._data_ready.set()
        outdata[:] = self._take_output(frames)

    def _take_output(self, frames: int) -> npt.NDArray[np.int16]:
        with self._out_lock:
            if not self._out_primed:
                # After running dry, wait for a little cushion so one late write is not one more gap.
                if len(self._out_blocks) < PLAYBACK_PRIME_FRAMES:
                    return np.zeros((frames, 2), dtype=np.int16)
                self._out_primed = True
            parts = [self._out_rest]
            have = len(self._out_rest)
            while have < frames and self._out_blocks:
                block = self._out_blocks.popleft()
                parts.append(block)
                have += len(block)
            joined = np.concatenate(parts) if len(parts) > 1 else self._out_rest
            self._out_rest = joined[frames:]
            if have >= frames:
                return joined[:frames]
            # Primed and playing, and the appliance's writes fell behind the device: an underrun.
            self.output_underflows += 1
            self._out_primed = False
        out = np.zeros((frames, 2), dtype=np.int16)
        out[:have] = joined
        return out

    def _restart(self, why: str) -> None:
        log.warning("audio stream %s; reopening", why)
        self.last_error = why
        with self._state_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                log.exception("closing the stalled stream failed")
        self.restarts += 1
        self._last_callback = time.monotonic()
        try:
            self.open()
        except AudioUnavailableError as exc:
            self.last_error = str(exc)

    # -- appliance side ----------------------------------------------------------------------------------

    def read(self, timeout: float) -> AudioFrame | None:
        """The next 20 ms of both legs, or None if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._frames:
                self.frames_captured += 1
                return self._frames.popleft()
            if self._raw_in:
                blocks = []
                while self._raw_in:
                    blocks.append(self._raw_in.popleft())
                self._convert(blocks)
                continue
            self._check_stalled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._data_ready.clear()
            if not self._raw_in:
                self._data_ready.wait(min(remaining, 0.05))

    def _check_stalled(self) -> None:
        now = time.monotonic()
        if self._restarting is not None and self._restarting.is_alive():
            return
        if self._stream is None:
            why = "is closed"
            if now - self._opened_at < self._settings.stall_restart_s:
                return
        elif now - self._last_callback >= self._settings.stall_restart_s:
            why = f"stalled (no callback for {now - self._last_callback:.1f} s)"
        else:
            return
        self._opened_at = now
        # On its own thread: closing a wedged stream can block until the driver lets go, and the audio
        # loop must keep running (it reports the fault; no frames means no watchdog kicks meanwhile).
        self._restarting = threading.Thread(
            target=self._restart, args=(why,), name="pi-audio-restart", daemon=True
        )
        self._restarting.start()

    def _convert(self, blocks: list[npt.NDArray[np.int16]]) -> None:
        # All waiting blocks in one go: one filter call per read instead of one per device block.
        stereo = np.concatenate(blocks).astype(np.float64)
        acc = np.concatenate([self._acc, self._down.process(stereo)])
        whole = len(acc) // FRAME_SAMPLES * FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            chunk = acc[start : start + FRAME_SAMPLES]
            self._frames.append(AudioFrame(line=to_pcm(chunk[:, 0]), phone=to_pcm(chunk[:, 1])))
        self._acc = acc[whole:]

    def write(self, line: Pcm, phone: Pcm) -> None:
        """Queue one frame each way; when the device lags, the oldest queued frame is dropped (counted)."""
        block = to_pcm(self._up.process(np.stack([line, phone], axis=1).astype(np.float64)))
        with self._out_lock:
            if len(self._out_blocks) == self._out_blocks.maxlen:
                self.output_dropped += 1
            self._out_blocks.append(block)
        self.frames_played += 1

    def stats(self) -> dict[str, int | str]:
        """Counters for health reports."""
        return {
            "frames_captured": self.frames_captured,
            "frames_played": self.frames_played,
            "input_overflows": self.input_overflows,
            "output_underflows": self.output_underflows,
            "output_dropped": self.output_dropped,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }

    def close(self) -> None:
        """Stop and close the stream (for good: a restart in progress will not reopen it)."""
        with self._state_lock:
            self._closed = True
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()
