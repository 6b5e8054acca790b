"""The pin map is data: one source of truth (hw/pinmap.toml = the packaged copy), checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.backends.pi.pinmap import (
    REQUIRED_PINS,
    PinMapError,
    load_pinmap,
    packaged_pinmap_text,
    parse_pinmap,
)
from edge.backends.pi.settings import PiConfig
from edge.config import Config, ConfigError, parse_config_text

ROOT = Path(__file__).resolve().parent.parent
HW_PINMAP = ROOT / "hw" / "pinmap.toml"


def test_packaged_copy_equals_hw_pinmap() -> None:
    assert packaged_pinmap_text() == HW_PINMAP.read_text(encoding="utf-8"), (
        "edge/backends/pi/pinmap.toml differs from hw/pinmap.toml: copy hw/pinmap.toml over it"
    )


def test_pinmap_matches_the_design_pin_suggestions() -> None:
    pins = load_pinmap(HW_PINMAP)
    expected = {"relay_en": 17, "wdt_kick": 27, "daa_oh": 22, "daa_ring": 23, "daa_cid": 24, "slic_rm": 16,
                "slic_fr": 12, "slic_shk": 25, "slic_pd": 26, "button": 5, "led": 6}  # fmt: skip
    assert {name: pins[name].bcm for name in expected} == expected
    assert set(REQUIRED_PINS) <= set(pins.pins)
    assert pins["slic_fr"].pwm and pins["daa_oh"].active_high is False
    # Every output rests released: relay in bypass, line on hook, SLIC not ringing.
    assert all(not spec.safe_asserted for spec in pins.pins.values())


def _without(name: str) -> str:
    text = HW_PINMAP.read_text(encoding="utf-8")
    start = text.index(f"[pins.{name}]")
    end = text.index("[pins.", start + 1)
    return text[:start] + text[end:]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pins = 3", "needs a [pins.<name>] table"),
        ("[pins", "not valid TOML"),
        (_without("relay_en"), "pins.relay_en is missing"),
        (HW_PINMAP.read_text().replace("bcm = 27", "bcm = 17"), "GPIO17 is used by both"),
        (HW_PINMAP.read_text().replace("bcm = 17", "bcm = 40"), "must be a BCM GPIO number"),
        (HW_PINMAP.read_text().replace('safe = "high"\ndescription = "CPC5622 OH', 'safe = "low"\ndescription = "CPC5622 OH'),
         "would assert it"),
        (HW_PINMAP.read_text().replace("[pins.led]\nbcm = 6\ndirection = \"out\"", "[pins.led]\nbcm = 6\ndirection = \"in\""),
         "pins.led must have direction 'out'"),
    ],
)  # fmt: skip
def test_bad_pinmaps_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PinMapError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_pinmap(text, "test.toml")


def test_missing_pinmap_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PinMapError, match="cannot be read"):
        load_pinmap(tmp_path / "nope.toml")


def test_pi_section_is_in_the_config_and_validated() -> None:
    assert isinstance(Config().pi, PiConfig)
    config = parse_config_text('[pi]\naudio_device = "hw:1"\ncodec_rate = 16000\nblocksize = 320\n')
    assert config.pi.codec_rate == 16000 and config.pi.audio_device == "hw:1"
    for bad, words in (
        ("codec_rate = 44100", "pi.codec_rate"),
        ("ring_min_hz = 70", "ring_min_hz"),
        ("ring_gap_s = 0.05", "slowest ring"),
        ("colour = 3", "unknown key"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config_text(f"[pi]\n{bad}\n")
        assert any(words in problem for problem in info.value.problems), info.value.problems


def test_every_pi_field_is_described() -> None:
    for name, field in PiConfig.model_fields.items():
        assert field.title and field.description, name


def test_drive_safe_releases_every_output_relay_first() -> None:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from edge.backends.pi.bypass import drive_safe

    factory = MockFactory(revision="c03112", pin_class=MockPWMPin)
    pins = load_pinmap()
    done = drive_safe(pins, factory)
    assert done[0]["pin"] == "relay_en" and done[1]["pin"] == "daa_oh"
    assert {d["pin"] for d in done} == {n for n, s in pins.pins.items() if s.direction == "out"}
    for item in done:
        spec = pins[item["pin"]]
        # Released = the level that is not asserted: low for active-high outputs, high for active-low ones.
        assert bool(factory.pin(spec.bcm).state) == (not spec.active_high), item


def test_bypass_command_reports_the_pins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from edge.cli import main

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    # A broken config must not stop the fail-safe: it falls back to the packaged defaults.
    bad = tmp_path / "broken.toml"
    bad.write_text("[pi\n")
    assert main(["bypass", "--json", "--config", str(bad), "--data-dir", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["pins"][0] == {"pin": "relay_en", "bcm": 17, "level": "low"}
    assert {"pin": "daa_oh", "bcm": 22, "level": "high"} in report["pins"]


def test_bypass_module_runs_standalone_and_fast(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "GPIOZERO_MOCK_PIN_CLASS": "mockpwmpin"}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "edge.backends.pi.bypass", "--json", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pins"][0] == {"pin": "relay_en", "bcm": 17, "level": "low"}
    # It must not load every subcommand (the full CLI imports scipy and the model runtime).
    assert (
        "scipy"
        not in subprocess.run(
            [sys.executable, "-c", "import sys, edge.backends.pi.bypass; print(' '.join(sys.modules))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert elapsed < 30
