"""The lineguard command: clear one-paragraph errors, JSON output, check-config, simulate, calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.scenarios import shipped_scenario_dir
from tests.cli_support import one_line


def lineguard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("lineguard: ")
    assert "\n\n" not in result.stderr.strip(), "one paragraph"
    for needle in needles:
        assert needle in one_line(result.stderr)


def test_unknown_option_is_one_clear_paragraph() -> None:
    assert_clean_error(lineguard("simulate", "normal_call", "--frobnicate"), "--frobnicate", "--help")


def test_check_config_prints_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nbackend = "x"\ncolour = 1\n')
    result = lineguard("check-config", str(bad))
    assert result.returncode == 1
    assert f"{bad}: device.backend = 'x'" in result.stdout
    assert f"{bad}: device.colour: unknown key" in result.stdout
    report = json.loads(lineguard("check-config", "--json", str(bad)).stdout)
    assert report["ok"] is False and len(report["errors"]) == 2
    good = tmp_path / "good.toml"
    good.write_text("[duration]\ncut_s = 1800.0\n")
    assert lineguard("check-config", str(good)).returncode == 0


def test_simulate_json_and_calls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = lineguard("simulate", "blocked_number", "--json", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [c["outcome"] for c in out["calls"]] == ["blocked"]
    bases = [ev["basis"] for ev in out["events"] if ev["type"] == "block_notice"]
    assert bases == ["blocked.number"]
    assert all({"t", "type", "basis"} <= set(ev) for ev in out["events"])
    calls = json.loads(lineguard("calls", "--json", "--data-dir", str(data)).stdout)["calls"]
    assert calls[0]["number"] == "01099998888" and calls[0]["basis"] == "blocked.number"
    text = lineguard("calls", "--events", env={"LINEGUARD_DATA_DIR": str(data)}).stdout
    assert "blocked.number" in text and "block_notice" in text


def test_simulate_readable_timeline(tmp_path: Path) -> None:
    result = lineguard(
        "simulate", str(shipped_scenario_dir() / "02_lunch_hour.toml"), "--data-dir", str(tmp_path)
    )
    assert result.returncode == 0
    assert "calendar_message" in result.stdout and "[calendar.lunch]" in result.stdout


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("name = 'x'\n", ["calls: required key is missing"]),
        ("name = 'x'\n[[calls]]\nsteps = [{ at = 1.0, say = 'a', press = 'short' }]\n", ["exactly one of"]),
        ("name = 'x'\n[[calls]]\n[config.duration]\ncut_s = -1\n", ["duration.cut_s"]),
        ("name = [\n", ["not valid TOML"]),
    ],
)
def test_a_scenario_with_errors_is_reported_clearly(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert_clean_error(lineguard("simulate", str(path), "--data-dir", str(tmp_path)), "has errors", *needles)


def test_a_bad_config_is_reported_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[duration]\nnotice_s = 'x'\n")
    result = lineguard("simulate", "normal_call", "--config", str(path), "--data-dir", str(tmp_path))
    assert_clean_error(result, "is not valid", "duration.notice_s")


def test_missing_scenario_and_empty_database(tmp_path: Path) -> None:
    assert_clean_error(lineguard("simulate", "no_such_thing", "--data-dir", str(tmp_path)), "normal_call")
    assert_clean_error(lineguard("calls", "--data-dir", str(tmp_path / "empty")), "no call database")


def test_caller_history_shows_strikes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert lineguard("simulate", "staff_button_cut", "--data-dir", str(data)).returncode == 0
    out = json.loads(lineguard("calls", "--json", "--number", "01077776666", "--data-dir", str(data)).stdout)
    assert [c["outcome"] for c in out["calls"]] == ["cut"]
    assert [s["basis"] for s in out["caller"]["strikes"]] == ["staff.request"]
    text = lineguard("calls", "--number", "01077776666", "--data-dir", str(data)).stdout
    assert text.startswith("01077776666: 1 calls, strikes: ") and "staff.request" in text
