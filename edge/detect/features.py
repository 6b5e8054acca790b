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


def butterworth_band_sos(band: Band, order: int = 4) -> npt.NDArray[np.float64]:
    """Second-order sections of a digital Butterworth band-pass at SAMPLE_RATE (scipy.signal.butter's design).

    Written out with numpy because importing scipy.signal costs the appliance about 75 MiB of memory.
    """
    low, high = checked_band(band)
    fs2 = 2.0 * SAMPLE_RATE
    # Analog prototype, pre-warped edges, low-pass to band-pass, then the bilinear transform.
    prototype = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    w_low, w_high = fs2 * np.tan(np.pi * low / SAMPLE_RATE), fs2 * np.tan(np.pi * high / SAMPLE_RATE)
    half_bw, w0 = (w_high - w_low) / 2.0, np.sqrt(w_low * w_high)
    shifted = prototype * half_bw
    analog = np.concatenate([shifted + np.sqrt(shifted**2 - w0**2), shifted - np.sqrt(shifted**2 - w0**2)])
    poles = (fs2 + analog) / (fs2 - analog)
    # order zeros at s = 0 (z = 1) and order at infinity (z = -1); the gain as the bilinear transform gives it.
    gain = float(np.real((2 * half_bw) ** order * fs2**order / np.prod(fs2 - analog)))
    upper = poles[np.imag(poles) > 0]
    if upper.size != order:
        raise ValueError(f"band {low:g}-{high:g} Hz gives real poles; this design expects conjugate pairs")
    sos = np.zeros((order, 6))
    for i, pole in enumerate(upper):
        sos[i] = [1.0, 0.0, -1.0, 1.0, -2.0 * pole.real, abs(pole) ** 2]
    sos[0, :3] *= gain
    return sos


class BandPass:
    """A streaming Butterworth band-pass (4th order) whose output does not depend on how input is chunked.

    Audio wider than the training band (a VoIP line, a wideband recording) carries energy below 300 Hz and
    above 3400 Hz that no training clip had; filtering it here puts it back in the band the model knows.
    Whole 20 ms hops are filtered as one matrix product over the sections' state (the sample-by-sample
    result to float rounding, and a small fraction of the front end's time); other lengths sample by sample.
    """

    def __init__(self, band: Band) -> None:
        self._sos = butterworth_band_sos(band)
        self._state = np.zeros(2 * self._sos.shape[0])
        # Hop response to the input and to the state, and the state after a hop: simulated once, all at once.
        n_state = self._state.size
        impulses = np.zeros((HOP, HOP + n_state))
        impulses[:, :HOP] = np.eye(HOP)
        states = np.zeros((n_state, HOP + n_state))
        states[:, HOP:] = np.eye(n_state)
        outputs, after = self._run(impulses, states)
        # One product per hop: [hop input, state] -> [hop output, next state].
        self._step = np.vstack([outputs, after])
        self._joined = np.zeros(HOP + n_state)

    def _run(
        self, x: npt.NDArray[np.float64], state: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Direct form II transposed, section by section, one sample at a time (columns: independent runs)."""
        y = x.copy()
        z = state.copy()
        for i, (b0, b1, b2, _a0, a1, a2) in enumerate(self._sos):
            z1, z2 = z[2 * i], z[2 * i + 1]
            for n in range(y.shape[0]):
                xn = y[n]
                yn = b0 * xn + z1
                z1 = b1 * xn - a1 * yn + z2
                z2 = b2 * xn - a2 * yn
                y[n] = yn
            z[2 * i], z[2 * i + 1] = z1, z2
        return y, z

    def reset(self) -> None:
        """Forget the past (call start)."""
        self._state[:] = 0.0

    def _hop(self, block: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self._joined[:HOP] = block
        self._joined[HOP:] = self._state
        stepped = self._step @ self._joined
        self._state = stepped[HOP:]
        return stepped[:HOP]

    def filter(self, audio: npt.NDArray[np.float64]) -> Floats:
        """The next samples, filtered, continuing from the previous call."""
        if audio.size == HOP:  # the appliance's 20 ms frames
            return self._hop(audio).astype(np.float32)
        out = np.empty(audio.size, dtype=np.float64)
        hops = audio.size // HOP
        for k in range(hops):
            out[k * HOP : (k + 1) * HOP] = self._hop(audio[k * HOP : (k + 1) * HOP])
        if audio.size > hops * HOP:
            out[hops * HOP :], self._state = self._run(audio[hops * HOP :], self._state)
        return out.astype(np.float32)


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
    return band.filter(np.multiply(pcm, 1.0 / 32768.0, dtype=np.float64))  # a power of two: exact


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


class SpectralBalance:
    """Per call, moves the caller's long-term spectral balance towards the one the model was trained on.

    A telephone's microphone and send path (a rising or falling response, a capsule's resonance) add a
    fixed offset to every log-mel band for the whole call, and the model removes only a window's mean
    level. The running mean of the call's voiced frames, less the mean of training speech (the model's
    ``front_end.speech_mean``), estimates that offset; it is subtracted, shrunk by ``n / (n + prior)``
    after ``n`` voiced frames, so the first seconds of a call are left almost as they are.

    ``dead_zone`` (log-mel units, 0: none) leaves alone the part of the offset's shape (its level taken
    out, which the model ignores) that ordinary speech reaches by what is said: the shape's length is
    reduced by it, so a call through a flat telephone is hardly corrected and a coloured one mostly.
    """

    def __init__(self, speech_mean: Floats, prior_frames: int, dead_zone: float = 0.0) -> None:
        self.speech_mean = speech_mean.astype(np.float32)
        self.prior = float(prior_frames)
        self.dead_zone = float(dead_zone)
        self._sum = np.zeros(N_MELS, dtype=np.float64)
        self._voiced = 0

    def reset(self) -> None:
        """A new call: a new telephone."""
        self._sum[:] = 0.0
        self._voiced = 0

    @property
    def offset(self) -> Floats:
        """What is subtracted from every band now (zeros before the first voiced frame)."""
        if not self._voiced:
            return np.zeros(N_MELS, dtype=np.float32)
        weight = self._voiced / (self._voiced + self.prior)
        offset = self._sum / self._voiced - self.speech_mean
        if self.dead_zone > 0:
            level = offset.mean()
            shape = offset - level
            length = float(np.linalg.norm(shape))
            offset = level + shape * (max(0.0, 1.0 - self.dead_zone / length) if length > 0 else 0.0)
        return (offset * weight).astype(np.float32)

    def correct(self, frame: Floats, voiced: bool) -> Floats:
        """``frame`` (one log-mel frame) with the call's estimated offset removed; voiced frames update it."""
        if voiced:
            self._sum += frame
            self._voiced += 1
        out: Floats = (frame - self.offset).astype(np.float32)
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
