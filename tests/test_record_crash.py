"""Power cut: kill -9 of a recording process loses at most 2 s, and the next start recovers the file."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from nacl.public import PrivateKey

from edge.record.decrypt import decrypt_recording
from edge.record.lgrec import scan_frames
from edge.record.recorder import Recorder
from edge.record.settings import RecordingConfig
from edge.record.verify import verify

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from edge.record.recorder import Recorder
    from edge.record.settings import RecordingConfig

    data_dir, public = Path(sys.argv[1]), sys.argv[2]
    recorder = Recorder(RecordingConfig(public_key=public), data_dir, lambda c, m: print("ALARM", c, m, flush=True))
    recorder.start("crash-1", {"number": "0311112222"})
    n = np.arange(160)
    frame = 0
    next_at = time.monotonic()
    while True:
        caller = (6000 * np.sin(2 * np.pi * 440 * (n + 160 * frame) / 8000)).astype(np.int16)
        recorder.write("crash-1", caller, caller // 2)
        frame += 1
        print(frame, flush=True)
        next_at += 0.02  # paced like the real audio loop
        time.sleep(max(0.0, next_at - time.monotonic()))
    """
)


def test_kill_9_mid_recording_loses_at_most_2_s(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), public],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    handed = 0
    deadline = time.monotonic() + 60
    try:
        while handed < 260 and time.monotonic() < deadline:  # 5.2 s of audio, an odd point in a chunk
            line = child.stdout.readline()
            assert line, "the recording process died on its own"
            assert not line.startswith("ALARM"), line
            handed = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert handed >= 260

    path = tmp_path / "recordings" / "crash-1.lgrec"
    assert not scan_frames(path).finished

    alarms: list[str] = []
    recorder = Recorder(RecordingConfig(public_key=public), tmp_path, lambda code, m: alarms.append(code))
    assert recorder.recover() == ["crash-1"]
    assert recorder.recover() == []  # idempotent
    recorder.close()
    assert alarms == []

    scan = scan_frames(path)
    assert scan.finished and not scan.torn
    decrypted = decrypt_recording(path, key)
    assert decrypted.problems == ()
    assert decrypted.end is not None and decrypted.end["reason"] == "recovered"
    assert decrypted.header["meta"]["number"] == "0311112222"
    kept = len(decrypted.audio)
    lost_seconds = (handed * 160 - kept) / 8000
    print(f"handed {handed * 160 / 8000:.2f} s, kept {kept / 8000:.2f} s, lost {lost_seconds:.2f} s")
    assert 0 <= lost_seconds <= 2.0, f"lost {lost_seconds:.2f} s"
    assert decrypted.gaps == ()
    # What was kept is the caller's tone, in order, from the first sample on.
    n = np.arange(kept)
    expected = 6000 * np.sin(2 * np.pi * 440 * n / 8000)
    correlation = np.corrcoef(expected[800:-800], decrypted.audio[800:-800, 0].astype(float))[0, 1]
    assert correlation > 0.9

    assert verify(tmp_path).problems == []


def test_recovery_cuts_a_torn_record(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    recorder = Recorder(RecordingConfig(public_key=public, chunk_seconds=0.5), tmp_path, lambda c, m: None)
    recorder.start("torn-1", {})
    rng = np.random.default_rng(2)
    for _ in range(60):  # 1.2 s: two chunks written, the rest still buffered
        recorder.write(
            "torn-1", rng.normal(0, 2000, 160).astype(np.int16), rng.normal(0, 2000, 160).astype(np.int16)
        )
    assert recorder.flush()
    path = tmp_path / "recordings" / "torn-1.lgrec"
    good = path.stat().st_size
    # Simulate a write cut by the power: the start of a third record and nothing more.
    with open(path, "ab") as handle:
        handle.write(b"\x00\x00\x10\x00A" + b"\x17" * 300)
    recorder._calls.clear()  # the process "died": nothing of its state survives
    recorder._positions.clear()
    recorder.close()

    fresh = Recorder(RecordingConfig(public_key=public), tmp_path, lambda c, m: None)
    assert fresh.recover() == ["torn-1"]
    fresh.close()
    scan = scan_frames(path)
    assert scan.finished and not scan.torn and scan.audio_records == 2
    assert path.stat().st_size > good
    decrypted = decrypt_recording(path, key)
    assert decrypted.problems == ()
    assert len(decrypted.audio) == 8000
    assert verify(tmp_path).problems == []


def test_a_recording_the_chain_could_not_take_is_chained_later(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    (tmp_path / "chain.jsonl").mkdir()  # the chain cannot be written (as on a dead or full disk)
    alarms: list[str] = []
    recorder = Recorder(RecordingConfig(public_key=public), tmp_path, lambda c, m: alarms.append(c))
    recorder.start("late-1", {})
    for _ in range(50):
        recorder.write("late-1", np.zeros(160, np.int16), np.zeros(160, np.int16))
    recorder.stop("late-1")
    assert recorder.flush()
    assert alarms == ["recording.error"]
    (tmp_path / "chain.jsonl").rmdir()
    assert verify(tmp_path).problems == [
        "recording late-1 is finished but not in the chain (added or chain cut)"
    ]
    recorder.close()  # retries at close
    assert verify(tmp_path).problems == []

    # And if the process died before any retry, the next start's recovery chains it.
    (tmp_path / "chain.jsonl").rename(tmp_path / "chain.old")
    (tmp_path / "chain.jsonl").mkdir()
    second = Recorder(RecordingConfig(public_key=public), tmp_path, lambda c, m: None)
    second.start("late-2", {})
    second.write("late-2", np.zeros(160, np.int16), np.zeros(160, np.int16))
    second.stop("late-2")
    assert second.flush()
    second._unchained.clear()  # the process "died" before retrying
    (tmp_path / "chain.jsonl").rmdir()
    (tmp_path / "chain.old").rename(tmp_path / "chain.jsonl")
    third = Recorder(RecordingConfig(public_key=public), tmp_path, lambda c, m: None)
    assert third.recover() == []
    third.close()
    assert verify(tmp_path).problems == []


def test_recovery_never_cuts_a_closed_recording_that_was_damaged(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    recorder = Recorder(RecordingConfig(public_key=public, chunk_seconds=0.5), tmp_path, lambda c, m: None)
    recorder.start("kept-1", {})
    for _ in range(100):
        recorder.write("kept-1", np.ones(160, np.int16), np.ones(160, np.int16))
    recorder.stop("kept-1")
    recorder.close()
    path = tmp_path / "recordings" / "kept-1.lgrec"
    data = bytearray(path.read_bytes())
    data[len(b"LGREC1\n\0") + 4] = ord("Z")  # the header's kind byte: the framing now ends right there
    path.write_bytes(bytes(data))
    assert scan_frames(path).torn

    alarms: list[tuple[str, str]] = []
    fresh = Recorder(RecordingConfig(public_key=public), tmp_path, lambda c, m: alarms.append((c, m)))
    assert fresh.recover() == []
    fresh.close()
    assert path.read_bytes() == bytes(data)
    assert alarms and alarms[0][0] == "recording.error" and "left untouched" in alarms[0][1]
    assert verify(tmp_path).problems == ["recording kept-1 was altered (its sha256 differs from the chain)"]
    decrypted = decrypt_recording(path, key)
    assert "record 0: kind byte was changed" in decrypted.problems
    assert len(decrypted.audio) == 8000 * 2  # the key holder still gets every chunk
