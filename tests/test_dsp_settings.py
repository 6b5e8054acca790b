"""The ``[dsp]`` config section: defaults, a site's own tone plan, and clear errors."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, parse_config_text
from edge.dsp.progress import CallProgressDetector
from edge.dsp.settings import DspConfig


def test_defaults_are_the_korean_plan() -> None:
    config = parse_config_text("")
    assert config.dsp == DspConfig()
    assert config.dsp.tones.busy.freqs_hz == (480.0, 620.0)
    assert config.dsp.tones.busy.cadence_s == (0.5, 0.5)
    assert config.dsp.callerid_standards == ("bell202", "v23", "dtmf")


def test_a_site_tone_plan_in_toml_reaches_the_detector() -> None:
    text = """
[dsp]
callerid_standards = ["bell202"]
silence_s = 12.5

[dsp.tones.busy]
freqs_hz = [425.0]
cadence_s = [0.35, 0.35]
"""
    config = parse_config_text(text)
    assert config.dsp.tones.busy.freqs_hz == (425.0,)
    detector = CallProgressDetector(config=config.dsp)
    assert 425.0 in detector._freqs


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[dsp]\ncallerid_standards = ['bell203']", "dsp.callerid_standards"),
        ("[dsp]\ncallerid_standards = []", "at least one"),
        ("[dsp.tones.busy]\nfreqs_hz = [48000.0]", "between 200 and 3400"),
        ("[dsp.tones.dial]\nfreqs_hz = [350.0, 440.0]\ncadence_s = [0.0]", "between 0.02 and 30"),
        ("[dsp]\nloudness = 3", "unknown key"),
    ],
)
def test_bad_values_are_named(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config_text(text)
    assert words in "; ".join(exc.value.problems)
