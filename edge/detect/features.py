"""Log-mel front end at 8 kHz, shared bit for bit by the training pipeline and the streaming detector."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
HOP = 160
"""20 ms: one feature frame per audio frame of the appliance."""
WINDOW = 256
"""32 ms analysis window (one FFT, no zero padding)."""
N_MELS = 32
F_MIN = 150.0
F_MAX = 3700.0
WINDOW_FRAMES = 64
"""Frames the model sees at once: 1.28 s, long enough for 죽여버린다 at a normal pace."""
LINE_BAND_HZ = (300.0, 3400.0)
"""The telephone band every training clip was filtered to (ITU-T G.712; 4th-order Butterworth)."""

Floats = npt.NDArray[np.float32]
Band = tuple[float, float]


class BandPass:
    """A streaming Butterworth band-pass (4th order) whose output does not depend on how input is chunked.

    Audio wider than the training band (a VoIP line, a wideband recording) carries energy below 300 Hz and
    above 3400 Hz that no training clip had; filtering it here puts it back in the band the model knows.
    """

    def __init__(self, band: Band) -> None:
        from scipy.signal import (
            butter,
            sosfilt,
        )  # heavy to import; only a model that declares a band needs it

        low, high = checked_band(band)
        self._sosfilt = sosfilt
        self._sos = butter(4, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        self._state = np.zeros((self._sos.shape[0], 2), dtype=np.float64)

    def reset(self) -> None:
        """Forget the past (call start)."""
        self._state[:] = 0.0

    def filter(self, audio: npt.NDArray[np.float64]) -> Floats:
        """The next samples, filtered, continuing from the previous call."""
        out, self._state = self._sosfilt(self._sos, audio, zi=self._state)
        return np.asarray(out, dtype=np.float32)


def checked_band(band: object) -> Band:
    """``band`` as (low, high) Hz; ValueError unless it is two numbers with 20 <= low < high < Nyquist."""
    if not isinstance(band, (list, tuple)) or len(band) != 2:
        raise ValueError(f"band {band!r} is not [low_hz, high_hz]")
    low, high = (float(x) for x in band)
    if not (20.0 <= low < high <= 0.49 * SAMPLE_RATE):
        raise ValueError(f"band {low:g}-{high:g} Hz is not inside 20-{0.49 * SAMPLE_RATE:g} Hz")
    return low, high


def _to_float(pcm: npt.NDArray[np.int16], band: BandPass | None) -> Floats:
    if band is None:
        return pcm.astype(np.float32) / 32768.0
    return band.filter(pcm.astype(np.float64) / 32768.0)


def _mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_inv(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_matrix() -> Floats:
    """Triangular mel filters, shape (WINDOW//2 + 1, N_MELS)."""
    edges = _mel_inv(np.linspace(_mel(np.array(F_MIN)), _mel(np.array(F_MAX)), N_MELS + 2))
    bins = np.fft.rfftfreq(WINDOW, 1.0 / SAMPLE_RATE)
    weights = np.zeros((bins.size, N_MELS), dtype=np.float64)
    for i in range(N_MELS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (bins - lo) / (mid - lo)
        falling = (hi - bins) / (hi - mid)
        weights[:, i] = np.clip(np.minimum(rising, falling), 0.0, None)
    return weights.astype(np.float32)


_MEL = mel_matrix()
_HANN = np.hanning(WINDOW).astype(np.float32)


def _frames_to_logmel(frames: Floats) -> Floats:
    spectrum = np.fft.rfft(frames * _HANN, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    out: Floats = np.log(power @ _MEL + 1e-6).astype(np.float32)
    return out


def logmel(pcm: npt.NDArray[np.int16], band: Band | None = None) -> Floats:
    """Log-mel frames of a whole clip, shape (len(pcm) // HOP, N_MELS); frame i ends at sample (i+1)*HOP.

    ``band`` filters the clip to that band first (:class:`BandPass`); None leaves it as it is.
    """
    audio = _to_float(pcm, BandPass(band) if band else None)
    padded = np.concatenate([np.zeros(WINDOW - HOP, dtype=np.float32), audio])
    n = audio.size // HOP
    if n == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    idx = np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]
    return _frames_to_logmel(padded[idx])


class StreamingLogMel:
    """The same frames as :func:`logmel` (with the same ``band``), computed one 20 ms hop at a time."""

    def __init__(self, band: Band | None = None) -> None:
        self._band = BandPass(band) if band else None
        self._tail = np.zeros(WINDOW - HOP, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        """Forget the past (call start)."""
        self._tail[:] = 0.0
        self._pending = np.zeros(0, dtype=np.float32)
        if self._band is not None:
            self._band.reset()

    def push(self, pcm: npt.NDArray[np.int16]) -> Floats:
        """Frames completed by these samples, shape (k, N_MELS)."""
        audio = np.concatenate([self._pending, _to_float(pcm, self._band)])
        n = audio.size // HOP
        if n == 0:
            self._pending = audio
            return np.zeros((0, N_MELS), dtype=np.float32)
        buf = np.concatenate([self._tail, audio[: n * HOP]])
        idx = np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]
        out = _frames_to_logmel(buf[idx])
        self._tail = buf[-(WINDOW - HOP) :].copy()
        self._pending = audio[n * HOP :].copy()
        return out

    def push_frame(self, pcm: npt.NDArray[np.int16]) -> Floats:
        """The one frame completed by exactly one hop of samples, shape (N_MELS,); the same numbers as push."""
        if self._pending.size or pcm.size != HOP:
            frames = self.push(pcm)
            if frames.shape[0] != 1:
                raise ValueError(f"push_frame needs exactly {HOP} samples per call, got {pcm.size}")
            first: Floats = frames[0]
            return first
        buf = np.concatenate([self._tail, _to_float(pcm, self._band)])
        self._tail = buf[HOP:].copy()
        out: Floats = _frames_to_logmel(buf[None, :])[0]
        return out


class FeatureHistory:
    """The newest ``frames`` log-mel frames, appended one at a time without shifting the whole window.

    A buffer a few windows long is filled forward and slid back only when full, so each append is one
    row write and each window a view (np.roll per 20 ms frame was a tenth of the detector's CPU).
    """

    def __init__(self, frames: int, spare: int = 4) -> None:
        self.frames = frames
        self._buf = np.full((frames * (1 + spare), N_MELS), np.log(1e-6), dtype=np.float32)
        self._end = frames

    def append(self, frame: Floats) -> None:
        """Add the newest frame."""
        if self._end == self._buf.shape[0]:
            self._buf[: self.frames] = self._buf[self._end - self.frames : self._end]
            self._end = self.frames
        self._buf[self._end] = frame
        self._end += 1

    def last(self, n: int) -> Floats:
        """The newest ``n`` frames (n <= frames), oldest first; a view, valid until the next append."""
        if n > self.frames:
            raise ValueError(f"only {self.frames} frames are kept, {n} asked")
        return self._buf[self._end - n : self._end]


def model_input(window: Floats) -> Floats:
    """Normalize one (frames, N_MELS) window: the mean is removed so line level does not matter."""
    return (window - np.float32(window.mean())).astype(np.float32)


def windows(features: Floats, ends: npt.NDArray[np.int64], frames: int = WINDOW_FRAMES) -> Floats:
    """Model inputs of ``frames`` frames whose last frame is each index in ``ends`` (log floor before the clip)."""
    pad = np.full((frames, N_MELS), np.log(1e-6), dtype=np.float32)
    padded = np.concatenate([pad, features])
    out = np.empty((len(ends), frames, N_MELS), dtype=np.float32)
    for i, end in enumerate(ends):
        stop = int(end) + 1 + frames
        out[i] = model_input(padded[stop - frames : stop])
    return out
