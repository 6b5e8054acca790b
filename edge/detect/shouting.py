"""The shouting cue: sustained loud voiced speech, well above the caller's usual level. Alerts staff only."""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.ports import Pcm

_BINS = np.arange(-90.0, 0.5, 0.5)


class ShoutingCue:
    """Counts loud voiced frames in the last 2 s; the caller's median level comes from a histogram."""

    def __init__(self, level_dbfs: float, over_median_db: float, min_s: float, frame_s: float = 0.02) -> None:
        self.level_dbfs = level_dbfs
        self.over_median_db = over_median_db
        self.min_frames = max(1, round(min_s / frame_s))
        self._recent: deque[bool] = deque(maxlen=round(2.0 / frame_s))
        self._loud = 0
        self._hist = np.zeros(_BINS.size, dtype=np.int64)
        self._total = 0

    def reset(self) -> None:
        """Call start."""
        self._recent.clear()
        self._loud = 0
        self._hist[:] = 0
        self._total = 0

    def median_dbfs(self) -> float:
        """The caller's median voiced level so far; a normal telephone level before enough speech."""
        total = self._total
        if total < 50:
            return -24.0
        return float(_BINS[int(np.searchsorted(np.cumsum(self._hist), total / 2))])

    def push(self, frame: Pcm, voiced: bool) -> float | None:
        """The level (dBFS) when this frame completes a shout, else None."""
        samples = frame.astype(np.float64)
        rms = float(np.sqrt(np.dot(samples, samples) / max(1, samples.size))) / 32768.0
        level = 20.0 * float(np.log10(max(rms, 1e-9)))
        loud = False
        if voiced:
            loud = level >= max(self.level_dbfs, self.median_dbfs() + self.over_median_db)
            self._hist[min(_BINS.size - 1, max(0, int((level + 90.0) * 2)))] += 1
            self._total += 1
        # A running count of the window's loud frames: summing the 2 s deque every 20 ms frame cost more
        # than the cue's arithmetic.
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._loud -= 1
        self._recent.append(loud)
        self._loud += loud
        if self._loud >= self.min_frames:
            self._recent.clear()
            self._loud = 0
            return level
        return None
