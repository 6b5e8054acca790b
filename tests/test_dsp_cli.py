"""The ``lineguard callerid`` and ``lineguard dtmf`` commands on real WAV files at several rates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from edge.cli import main
from edge.dsp.generate import callerid_fsk
from edge.dsp.levels import to_pcm
from tests.cli_support import one_line
from tests.dsp_support import spandsp
from tests.dsp_support.signals import amplitude, silence


def write(path: Path, pcm_8k: np.ndarray, rate: int, channels: int = 1) -> Path:
    x = np.asarray(pcm_8k, dtype=np.float64)
    if rate != 8000:
        x = resample_poly(x, rate, 8000)
    data = to_pcm(x)
    if channels > 1:
        data = np.stack([data] + [np.zeros_like(data)] * (channels - 1), axis=1)
    sf.write(path, data, rate, subtype="PCM_16")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.mark.skipif(spandsp.find_library() is None, reason="libspandsp2 not installed")
@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_callerid_json_from_a_spandsp_recording(
    rate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.concatenate(
        (silence(400), spandsp.caller_id("v23", "0212345678", "KIM", when="11231130"), silence(300))
    )
    out = run_json(capsys, "callerid", str(write(tmp_path / "cid.wav", x, rate)), "--json")
    assert out == {
        "messages": [
            {
                "standard": "v23",
                "format": "mdmf",
                "number": "0212345678",
                "name": "KIM",
                "datetime": "11231130",
                "absence": None,
                "checksum_ok": True,
                "start_s": out["messages"][0]["start_s"],  # type: ignore[index]
            }
        ]
    }
    assert 0.4 < out["messages"][0]["start_s"] < 0.8  # type: ignore[index]


def test_callerid_message_ending_at_the_very_end_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_json(
        capsys, "callerid", str(write(tmp_path / "end.wav", callerid_fsk("0101234567"), 8000)), "--json"
    )
    assert [m["number"] for m in out["messages"]] == ["0101234567"]  # type: ignore[attr-defined]


@pytest.mark.skipif(spandsp.find_library() is None, reason="libspandsp2 not installed")
def test_dtmf_json_at_48_khz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.concatenate((silence(200), spandsp.dtmf("*9#", on_ms=60, off_ms=60, level=-15), silence(200)))
    out = run_json(capsys, "dtmf", str(write(tmp_path / "d.wav", x, 48000)), "--json")
    digits = out["digits"]
    assert [d["digit"] for d in digits] == ["*", "9", "#"]  # type: ignore[attr-defined]
    assert abs(digits[0]["start_s"] - 0.2) < 0.015  # type: ignore[index]
    assert abs(digits[2]["end_s"] - 0.5) < 0.015  # type: ignore[index]


def test_nothing_found_is_exit_0_with_empty_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quiet = write(tmp_path / "quiet.wav", np.random.default_rng(0).normal(0, 100, 8000), 22050)
    assert run_json(capsys, "callerid", str(quiet), "--json") == {"messages": []}
    assert run_json(capsys, "dtmf", str(quiet), "--json") == {"digits": []}
    assert main(["dtmf", str(quiet)]) == 0
    assert "no DTMF digits" in capsys.readouterr().out


def test_a_multichannel_file_needs_a_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stereo = write(tmp_path / "st.wav", callerid_fsk("0212345678"), 8000, channels=2)
    with pytest.raises(SystemExit) as exc:
        main(["callerid", str(stereo), "--json"])
    assert exc.value.code == 2
    assert "--channel" in capsys.readouterr().err
    out = run_json(capsys, "callerid", str(stereo), "--json", "--channel", "1")
    assert [m["number"] for m in out["messages"]] == ["0212345678"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["callerid", "dtmf"])
def test_a_file_that_is_not_audio_is_one_clear_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not a recording\n")
    for path, words in ((bogus, "not an audio file"), (tmp_path / "nope.wav", "does not exist")):
        with pytest.raises(SystemExit) as exc:
            main([command, str(path), "--json"])
        assert exc.value.code == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert words in one_line(captured.err) and "Traceback" not in captured.err


def test_the_installed_command_end_to_end(tmp_path: Path) -> None:
    wav = write(tmp_path / "cid.wav", np.concatenate((callerid_fsk("0212345678"), silence(100))), 16000)
    ok = subprocess.run(
        [sys.executable, "-m", "edge", "callerid", str(wav), "--json"], capture_output=True, text=True
    )
    assert ok.returncode == 0
    assert [m["number"] for m in json.loads(ok.stdout)["messages"]] == ["0212345678"]
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"RIFF\x00\x00garbage")
    bad = subprocess.run([sys.executable, "-m", "edge", "dtmf", str(bogus)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr


def test_tones_recognises_the_plan_and_measures_an_unknown_tone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = np.arange(8000 * 4)
    on = (n / 8000) % 1.0 < 0.5
    busy = np.where(
        on, amplitude(-20) * (np.sin(2 * np.pi * 480 * n / 8000) + np.sin(2 * np.pi * 620 * n / 8000)), 0
    )
    out = run_json(capsys, "tones", str(write(tmp_path / "busy.wav", busy, 16000)), "--json")
    assert [e["kind"] for e in out["events"]] == ["busy"]  # type: ignore[attr-defined]
    measured = out["measured"]
    assert [abs(f - t) < 3 for f, t in zip(measured["freqs_hz"], (480, 620), strict=True)] == [True, True]  # type: ignore[index]
    assert measured["cadence_s"] == [0.5, 0.5]  # type: ignore[index]
    assert abs(measured["level_dbm0"] - (-17.0)) < 0.5  # type: ignore[index]
    european = np.where((n / 8000) % 0.3 < 0.15, amplitude(-15) * np.sin(2 * np.pi * 425 * n / 8000), 0)
    out = run_json(capsys, "tones", str(write(tmp_path / "eu.wav", european, 8000)), "--json")
    assert out["events"] == []
    assert abs(out["measured"]["freqs_hz"][0] - 425) < 3 and len(out["measured"]["freqs_hz"]) == 1  # type: ignore[index]
    assert out["measured"]["cadence_s"] == [0.15, 0.15]  # type: ignore[index]


def test_tones_with_a_site_plan_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[dsp.tones.busy]\nfreqs_hz = [425.0]\ncadence_s = [0.15, 0.15]\n")
    n = np.arange(8000 * 3)
    european = np.where((n / 8000) % 0.3 < 0.15, amplitude(-15) * np.sin(2 * np.pi * 425 * n / 8000), 0)
    wav = write(tmp_path / "eu.wav", european, 8000)
    out = run_json(capsys, "tones", str(wav), "--json", "--config", str(config))
    assert [e["kind"] for e in out["events"]] == ["busy"]  # type: ignore[attr-defined]
    config.write_text("[dsp]\nsilence_s = -1\n")
    with pytest.raises(SystemExit) as exc:
        main(["tones", str(wav), "--config", str(config)])
    assert exc.value.code == 2 and "silence_s" in capsys.readouterr().err
