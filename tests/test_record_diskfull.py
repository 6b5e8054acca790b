"""Full disk on a small tmpfs made by the test: the call goes on, an alarm is raised, nothing is corrupt,
and recording resumes by itself when space returns."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from nacl.public import PrivateKey

from edge.record.decrypt import decrypt_recording
from edge.record.lgrec import scan_frames
from edge.record.recorder import Recorder
from edge.record.settings import RecordingConfig
from edge.record.verify import verify
from tests.fs_support import fill, small_tmpfs

RATE = 8000


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "2m") as mount:
        yield mount


def talk(recorder: Recorder, call_id: str, seconds: float, start: int, freq: float) -> int:
    slowest = 0.0
    n = np.arange(160)
    for frame in range(int(seconds * 50)):
        sample = start + frame * 160
        caller = (5000 * np.sin(2 * np.pi * freq * (n + sample) / RATE)).astype(np.int16)
        t0 = time.perf_counter()
        recorder.write(call_id, caller, caller)
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.01, "write() must never wait on the disk"
    return start + int(seconds * RATE)


def test_disk_full_pauses_alarms_and_resumes(small_fs: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    alarms: list[str] = []
    recorder = Recorder(
        RecordingConfig(public_key=public, chunk_seconds=0.5), small_fs, lambda c, m: alarms.append(c)
    )

    # A finished recording from before the disk filled up: it must come through untouched.
    position = talk_and_stop(recorder, "before")
    del position

    filler = small_fs / "filler.bin"
    fill(filler)
    recorder.start("full-1", {"number": "0515556666"})
    position = talk(recorder, "full-1", 2.0, 0, 440)
    assert recorder.flush()
    assert "recording.disk_full" in alarms
    assert recorder.health()["paused_disk_full"] is True

    filler.unlink()  # space returns
    position = talk(recorder, "full-1", 2.0, position, 440)
    recorder.stop("full-1")
    assert recorder.flush()
    recorder.close()
    assert "recording.resumed" in alarms
    assert alarms.index("recording.resumed") > alarms.index("recording.disk_full")
    assert [a for a in alarms if a not in ("recording.disk_full", "recording.resumed")] == []

    path = small_fs / "recordings" / "full-1.lgrec"
    scan = scan_frames(path)
    assert scan.finished and not scan.torn
    decrypted = decrypt_recording(path, key)
    assert decrypted.problems == ()
    assert decrypted.end is not None and decrypted.end["lost_samples"] > 0
    assert len(decrypted.audio) == position
    # The first 2 s were lost to the full disk (a gap), the last 2 s were recorded.
    ((gap_start, gap_length),) = decrypted.gaps
    assert (gap_start, gap_length) == (0, 2 * RATE)
    tail = decrypted.audio[-RATE:, 0].astype(float)
    assert np.sqrt(np.mean(tail**2)) > 2000

    before = decrypt_recording(small_fs / "recordings" / "before.lgrec", key)
    assert before.problems == () and len(before.audio) == RATE
    assert verify(small_fs).problems == []


def talk_and_stop(recorder: Recorder, call_id: str) -> int:
    recorder.start(call_id, {})
    position = talk(recorder, call_id, 1.0, 0, 300)
    recorder.stop(call_id)
    assert recorder.flush()
    return position
