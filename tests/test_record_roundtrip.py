"""Recording round trip: frames in, sealed .lgrec on disk, decrypted audio out with both legs separate."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from nacl.public import PrivateKey

from edge.record.decrypt import decrypt_recording, write_audio
from edge.record.lgrec import RecordingFormatError, scan_frames
from edge.record.recorder import Recorder
from edge.record.seal import ClipSealer, load_public_key, open_file_bytes
from edge.record.settings import RecordingConfig

RATE = 8000


def tone(freq: float, seconds: float, amplitude: float = 8000.0, start: int = 0) -> np.ndarray:
    n = np.arange(start, start + int(seconds * RATE))
    return (amplitude * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)


def frames(caller: np.ndarray, staff: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(caller[i : i + 160], staff[i : i + 160]) for i in range(0, len(caller), 160)]


def dominant(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal.astype(float) * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / RATE)[int(np.argmax(spectrum))])


@pytest.fixture()
def key() -> PrivateKey:
    return PrivateKey.generate()


def settings_for(key: PrivateKey, **overrides: object) -> RecordingConfig:
    public = base64.b64encode(bytes(key.public_key)).decode()
    return RecordingConfig(public_key=public, chunk_seconds=0.5, **overrides)  # type: ignore[arg-type]


class Alarms:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, code: str, message: str) -> None:
        self.seen.append((code, message))

    @property
    def codes(self) -> list[str]:
        return [code for code, _ in self.seen]


def test_two_legs_recorded_sealed_and_decrypted(tmp_path: Path, key: PrivateKey) -> None:
    alarms = Alarms()
    recorder = Recorder(settings_for(key), tmp_path, alarms)
    caller, staff = tone(440, 3.0), tone(1000, 3.0)
    recorder.start("call-1", {"number": "01012345678", "direction": "in"})
    for c, s in frames(caller, staff):
        recorder.write("call-1", c, s)
    recorder.stop("call-1")
    assert recorder.flush()
    recorder.close()

    path = tmp_path / "recordings" / "call-1.lgrec"
    raw = path.read_bytes()
    assert b"01012345678" not in raw and b"call-1" not in raw.replace(b"call-1.lgrec", b"")
    scan = scan_frames(path)
    assert scan.finished and not scan.torn and scan.audio_records == 6

    decrypted = decrypt_recording(path, key)
    assert decrypted.problems == ()
    assert decrypted.header["meta"]["number"] == "01012345678"
    assert decrypted.end is not None and decrypted.end["reason"] == "stopped"
    assert len(decrypted.audio) == len(caller)
    assert decrypted.gaps == ()
    middle = slice(RATE, 2 * RATE)
    assert abs(dominant(decrypted.audio[middle, 0]) - 440) < 10
    assert abs(dominant(decrypted.audio[middle, 1]) - 1000) < 10
    # The codec keeps the level: the caller's tone comes back within 3 dB.
    rms_in = np.sqrt(np.mean(caller[middle].astype(float) ** 2))
    rms_out = np.sqrt(np.mean(decrypted.audio[middle, 0].astype(float) ** 2))
    assert 0.7 < rms_out / rms_in < 1.4
    assert alarms.seen == []

    out = tmp_path / "call-1.wav"
    write_audio(decrypted, out)
    import soundfile as sf

    info = sf.info(out)
    assert (info.channels, info.samplerate, info.frames) == (2, RATE, len(caller))


def test_another_key_cannot_open_and_altered_chunk_is_reported(tmp_path: Path, key: PrivateKey) -> None:
    recorder = Recorder(settings_for(key), tmp_path, Alarms())
    recorder.start("call-2", {})
    for c, s in frames(tone(300, 2.0), tone(600, 2.0)):
        recorder.write("call-2", c, s)
    recorder.stop("call-2")
    recorder.close()
    path = tmp_path / "recordings" / "call-2.lgrec"
    with pytest.raises(RecordingFormatError, match="does not open"):
        decrypt_recording(path, PrivateKey.generate())

    data = bytearray(path.read_bytes())
    data[-200] ^= 0x01  # inside the last audio chunk or the end record
    path.write_bytes(bytes(data))
    decrypted = decrypt_recording(path, key)
    assert any("altered" in p for p in decrypted.problems)


def test_no_record_list_and_disabled(tmp_path: Path, key: PrivateKey) -> None:
    recorder = Recorder(settings_for(key, no_record=("1234", "+8221234567")), tmp_path, Alarms())
    assert recorder.should_record("01099990000")
    assert recorder.should_record(None)
    assert not recorder.should_record("1234")
    assert not recorder.should_record("+8221234567")
    recorder.close()
    off = Recorder(settings_for(key, enabled=False), tmp_path / "off", Alarms())
    assert not off.should_record("01099990000")
    off.start("call-3", {})
    off.write("call-3", tone(440, 0.02), tone(440, 0.02))
    off.stop("call-3")
    off.close()
    assert list((tmp_path / "off" / "recordings").glob("*.lgrec")) == []


def test_without_a_key_nothing_is_recorded_and_an_alarm_says_why(tmp_path: Path) -> None:
    alarms = Alarms()
    recorder = Recorder(RecordingConfig(), tmp_path, alarms)
    recorder.start("call-4", {})
    recorder.write("call-4", tone(440, 0.02), tone(440, 0.02))
    recorder.stop("call-4")
    recorder.close()
    assert alarms.codes == ["recording.no_key"]
    keyed = Recorder(settings_for(PrivateKey.generate()), tmp_path / "k", alarms)
    keyed.start("../escape", {})  # never a path outside the folder, and never an exception into the call
    keyed.close()
    assert alarms.codes == ["recording.no_key", "recording.error"]
    assert not (tmp_path / "escape.lgrec").exists()
    assert "public_key" in alarms.seen[0][1]
    assert list((tmp_path / "recordings").glob("*")) == []
    assert recorder.health()["key_loaded"] is False


class _Gate:
    """A barrier item whose ``set`` holds the writer thread until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.reached = threading.Event()

    def set(self) -> None:
        self.reached.set()
        self.open.wait(10)


def test_write_never_blocks_a_stuck_writer_drops_and_counts(tmp_path: Path, key: PrivateKey) -> None:
    alarms = Alarms()
    recorder = Recorder(settings_for(key), tmp_path, alarms)
    recorder._max_pending = 8000  # 1 s of queue, so the test stays short
    recorder.start("call-5", {})
    gate = _Gate()
    recorder._put(("barrier", gate))
    assert gate.reached.wait(5)
    caller, staff = tone(440, 3.0), tone(880, 3.0)
    slowest = 0.0
    for c, s in frames(caller, staff):
        t0 = time.perf_counter()
        recorder.write("call-5", c, s)
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.005
    assert recorder.health()["dropped_frames"] == 100  # 3 s offered, 1 s queued
    gate.open.set()
    recorder.stop("call-5")
    recorder.close()
    assert "recording.dropped" in alarms.codes
    decrypted = decrypt_recording(tmp_path / "recordings" / "call-5.lgrec", key)
    assert len(decrypted.audio) == len(caller)  # the timeline keeps its length...
    assert decrypted.gaps == ((RATE, 2 * RATE),)  # ...with the dropped 2 s as a marked gap


def test_clip_sealer(tmp_path: Path, key: PrivateKey) -> None:
    public = load_public_key(base64.b64encode(bytes(key.public_key)).decode())
    sealer = ClipSealer(public)
    path = sealer.write(tmp_path / "clip.wav.sealed", b"RIFF....WAVEfmt clip bytes")
    blob = path.read_bytes()
    assert b"clip bytes" not in blob
    assert open_file_bytes(blob, key) == b"RIFF....WAVEfmt clip bytes"
    with pytest.raises(ValueError, match="altered"):
        open_file_bytes(blob[:-1] + bytes([blob[-1] ^ 1]), key)


def test_a_reused_call_id_never_touches_the_earlier_recording(tmp_path: Path, key: PrivateKey) -> None:
    first = Recorder(settings_for(key), tmp_path, Alarms())
    first.start("dup", {"number": "0101"})
    for c, s in frames(tone(440, 1.0), tone(880, 1.0)):
        first.write("dup", c, s)
    first.stop("dup")
    first.mark_incident("dup", "abuse.threat")
    first.close()
    path = tmp_path / "recordings" / "dup.lgrec"
    before = (path.read_bytes(), (tmp_path / "recordings" / "dup.json").read_text())

    alarms = Alarms()
    second = Recorder(settings_for(key), tmp_path, alarms)
    second.start("dup", {"number": "0202"})
    for c, s in frames(tone(300, 1.0), tone(600, 1.0)):
        second.write("dup", c, s)
    second.stop("dup")
    second.close()
    assert alarms.codes == ["recording.error"]
    assert "already exists" in alarms.seen[0][1]
    assert (path.read_bytes(), (tmp_path / "recordings" / "dup.json").read_text()) == before
    assert "abuse.threat" in before[1]
