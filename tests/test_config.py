"""Configuration: every problem named by key, value and rule; unknown keys rejected; last good kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import (
    LAST_GOOD_NAME,
    ConfigError,
    default_config,
    load_config,
    load_with_fallback,
    parse_config_text,
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "test.toml")
    return info.value.problems


def test_packaged_default_is_valid_and_complete() -> None:
    config = default_config()
    assert config.staff.dtmf_cut == "*9#"
    assert (config.duration.notice_s, config.duration.cut_s) == (900.0, 1200.0)
    assert config.escalation.warnings_before_cut == 1


def test_errors_name_the_key_the_value_and_the_rule() -> None:
    found = problems(
        '[device]\nbackend = "fpga"\n[staff]\ndtmf_warn = "19"\n[calendar.lunch]\nstart = "25:00"\n'
    )
    assert any(p.startswith("device.backend = 'fpga'") and "'sim' or 'pi'" in p for p in found)
    assert any(p.startswith("staff.dtmf_warn = '19'") and "starting with * or #" in p for p in found)
    assert any(p.startswith("calendar.lunch.start = '25:00'") and "HH:MM" in p for p in found)
    assert len(found) == 3, "every problem is reported, not only the first"


def test_unknown_keys_are_rejected() -> None:
    found = problems("[duration]\ncut_after = 10\n[nonsense]\nx = 1\n")
    assert "duration.cut_after: unknown key (not part of the configuration)" in found
    assert "nonsense: unknown key (not part of the configuration)" in found


def test_cross_field_rules() -> None:
    assert any(
        "notice_s (1300) must be smaller than cut_s (1200)" in p
        for p in problems("[duration]\nnotice_s = 1300\n")
    )
    assert any("prefix" in p for p in problems('[staff]\ndtmf_warn = "*1"\ndtmf_cut = "*1#"\n'))
    assert any("not a phone number" in p for p in problems('[lists]\nblocklist = ["call me"]\n'))


def test_not_toml_and_missing_file() -> None:
    assert problems("[device\n")[0].startswith("not valid TOML")
    with pytest.raises(ConfigError) as info:
        load_config(Path("/nonexistent/lineguard.toml"))
    assert info.value.problems == ["file not found"]


def test_a_bad_edit_falls_back_to_the_last_good_config(tmp_path: Path) -> None:
    path = tmp_path / "lineguard.toml"
    path.write_text("[duration]\nnotice_s = 600.0\ncut_s = 900.0\n")
    config, found = load_with_fallback(path, tmp_path / "data")
    assert found == [] and config.duration.cut_s == 900.0
    assert (tmp_path / "data" / LAST_GOOD_NAME).exists()
    path.write_text("[duration]\nnotice_s = 'soon'\n")
    config, found = load_with_fallback(path, tmp_path / "data")
    assert config.duration.cut_s == 900.0, "the running box keeps its last good settings"
    assert any("notice_s" in p for p in found) and "last good" in found[-1]


def test_without_a_last_good_copy_the_packaged_default_runs(tmp_path: Path) -> None:
    path = tmp_path / "lineguard.toml"
    path.write_text("garbage = [")
    config, found = load_with_fallback(path, tmp_path / "data")
    assert config == default_config() and "packaged default" in found[-1]
