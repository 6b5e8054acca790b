"""The keygen, decrypt and verify commands, the audit log they write, and the [recording] config section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.cli import main
from edge.config import ConfigError, parse_config_text
from edge.record.audit import audit_path
from edge.record.chain import read_chain
from edge.record.recorder import Recorder
from edge.record.settings import RecordingConfig
from edge.record.verify import verify
from tests.cli_support import one_line


def keygen(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["keygen", "--out", str(out), "--json"]) == 0
    result: dict[str, str] = json.loads(capsys.readouterr().out)
    return result


def make_recording(data_dir: Path, public: str, call_id: str = "cli-1") -> Path:
    recorder = Recorder(RecordingConfig(public_key=public, chunk_seconds=0.5), data_dir, lambda c, m: None)
    n = np.arange(8000 * 2)
    tone = (6000 * np.sin(2 * np.pi * 500 * n / 8000)).astype(np.int16)
    recorder.start(call_id, {"number": "0200000000"})
    for i in range(0, len(tone), 160):
        recorder.write(call_id, tone[i : i + 160], np.zeros(160, np.int16))
    recorder.stop(call_id)
    recorder.close()
    return data_dir / "recordings" / f"{call_id}.lgrec"


def test_keygen_writes_a_private_and_public_key_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = keygen(tmp_path / "central", capsys)
    private = Path(keys["private_key"])
    assert private.stat().st_mode & 0o777 == 0o600
    assert Path(keys["public_key"]).read_text().strip() == keys["public"]
    RecordingConfig(public_key=keys["public"])  # the printed key is accepted by the config
    RecordingConfig(public_key=keys["public_key"])  # and so is the path of the file
    with pytest.raises(SystemExit) as exit_info:
        main(["keygen", "--out", str(tmp_path / "central")])
    assert exit_info.value.code == 2
    assert "never overwritten" in one_line(capsys.readouterr().err)


def test_decrypt_writes_wav_and_opus_and_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = keygen(tmp_path / "central", capsys)
    data_dir = tmp_path / "data"
    recording = make_recording(data_dir, keys["public_key"])

    out = tmp_path / "out.wav"
    assert main(["decrypt", "--key", keys["private_key"], str(recording), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seconds"] == 2.0 and summary["problems"] == [] and summary["call_id"] == "cli-1"
    audio, rate = sf.read(out, dtype="int16")
    assert rate == 8000 and audio.shape == (16000, 2)
    assert np.abs(audio[:, 1]).max() < 200 < np.abs(audio[:, 0]).max()  # staff silent, caller talking

    opus = tmp_path / "out.opus"
    assert main(["decrypt", "--key", keys["private_key"], str(recording), "-o", str(opus)]) == 0
    assert "2.0 s, 2 channels" in capsys.readouterr().out
    assert sf.info(opus).subtype == "OPUS"

    entries = read_chain(audit_path(data_dir)).entries
    assert [e["ref"] for e in entries] == ["decrypt", "decrypt"]
    assert entries[0]["detail"]["output"] == str(out)
    assert entries[0]["action"] == "decrypt" and entries[0]["actor"]
    assert verify(data_dir).ok


def test_decrypt_errors_are_one_clear_paragraph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = keygen(tmp_path / "central", capsys)
    other = keygen(tmp_path / "other", capsys)
    recording = make_recording(tmp_path / "data", keys["public_key"])
    cases = [
        (["--key", other["private_key"], str(recording)], "does not open"),
        (["--key", str(tmp_path / "nope.key"), str(recording)], "cannot read the key file"),
        (["--key", keys["public_key"], str(tmp_path / "missing.lgrec")], "does not exist"),
        (["--key", keys["private_key"], str(recording), "-o", str(tmp_path / "x.mp3")], "must end in .wav"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["decrypt", *argv])
        assert exit_info.value.code == 2
        err = one_line(capsys.readouterr().err)
        assert message in err and "Traceback" not in err


def test_commands_are_reachable_through_the_lineguard_entry_point(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge", "verify", "--data-dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_recording_section_in_config() -> None:
    config = parse_config_text(
        '[recording]\nretention_days = 180\nno_record = ["1234"]\nchunk_seconds = 1.0\n'
        'public_key = "35w29mUXwneqzzJ3E9QT2dU9ZoY51IAsA5FQWYJKJns="\n'
    )
    assert config.recording.retention_days == 180
    assert config.recording.no_record == ("1234",)
    assert config.recording.incident_retention_days == 1095
    assert config.recording.disk_cap_percent == 70
    bad = [
        ("chunk_seconds = 3.0", "recording.chunk_seconds"),
        ('public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="', "not a valid base64"),
        ("incident_retention_days = 30", "must not be shorter"),
        ('no_record = ["call me"]', "not a phone number"),
        ("colour = 1", "unknown key"),
    ]
    for line, message in bad:
        with pytest.raises(ConfigError) as error:
            parse_config_text(f"[recording]\n{line}\n")
        assert message in "; ".join(error.value.problems)


def test_export_returns_the_sealed_file_and_audits_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.record.recorder import export_recording

    keys = keygen(tmp_path / "central", capsys)
    data_dir = tmp_path / "data"
    recording = make_recording(data_dir, keys["public_key"], "exp-1")
    assert export_recording(data_dir, "exp-1", "mqtt:central") == recording.read_bytes()
    for bad in ("nope", "../data/recordings/exp-1", ""):
        with pytest.raises(FileNotFoundError):
            export_recording(data_dir, bad, "mqtt:central")
    (entry,) = read_chain(audit_path(data_dir)).entries
    assert (entry["action"], entry["actor"], entry["detail"]["call_id"]) == (
        "export",
        "mqtt:central",
        "exp-1",
    )
    assert verify(data_dir).ok
