"""The ``[dsp]`` config section: caller-ID standards and the line's tone plan (DESIGN.md §5), as data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.settings import Section

CallerIdStandard = Literal["bell202", "v23", "dtmf"]


class ToneSpec(Section):
    """One call-progress or staff tone: its frequencies, level and on/off cadence."""

    freqs_hz: tuple[float, ...] = Field(
        title="Frequencies", description="Frequencies mixed in the tone, Hz (one or two, 200-3400 Hz)."
    )
    cadence_s: tuple[float, ...] = Field(
        (),
        title="Cadence",
        description="Alternating on and off times in seconds, starting with on; empty means continuous.",
    )
    level_dbm0: float = Field(
        -13.0, ge=-40.0, le=-3.0, title="Level", description="Level of each frequency when generated, dBm0."
    )
    repeat: bool = Field(True, title="Repeat", description="Repeat the cadence; False plays it once.")

    @field_validator("freqs_hz")
    @classmethod
    def _audible(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not 1 <= len(value) <= 2 or any(not 200.0 <= f <= 3400.0 for f in value):
            raise ValueError("must be one or two frequencies between 200 and 3400 Hz")
        return value

    @field_validator("cadence_s")
    @classmethod
    def _cadence(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.02 <= t <= 30.0 for t in value):
            raise ValueError("every on/off time must be between 0.02 and 30 seconds")
        return value


class TonePlan(Section):
    """The tones of the local network (Korea by default; verify on site)."""

    dial: ToneSpec = Field(
        ToneSpec(freqs_hz=(350.0, 440.0)), title="Dial tone", description="Continuous dial tone."
    )
    ringback: ToneSpec = Field(
        ToneSpec(freqs_hz=(440.0, 480.0), cadence_s=(1.0, 2.0), level_dbm0=-16.0),
        title="Ringback",
        description="Heard by a caller while the called phone rings.",
    )
    busy: ToneSpec = Field(
        ToneSpec(freqs_hz=(480.0, 620.0), cadence_s=(0.5, 0.5)), title="Busy", description="Busy tone."
    )
    reorder: ToneSpec = Field(
        ToneSpec(freqs_hz=(480.0, 620.0), cadence_s=(0.3, 0.2)),
        title="Reorder",
        description="Congestion / reorder tone; also what many exchanges send after the far end hangs up.",
    )
    alert: ToneSpec = Field(
        ToneSpec(freqs_hz=(1400.0,), cadence_s=(0.12, 0.08, 0.12), level_dbm0=-24.0, repeat=False),
        title="Staff alert",
        description="The short soft beep played to the staff alone on a possible detection.",
    )

    def spec(self, kind: str) -> ToneSpec:
        """The spec of a tone by name (``dial``, ``ringback``, ``busy``, ``reorder``, ``alert``)."""
        if kind not in TONE_KINDS:
            raise ValueError(f"unknown tone {kind!r}; choose from {list(TONE_KINDS)}")
        spec: ToneSpec = getattr(self, kind)
        return spec


TONE_KINDS = ("dial", "ringback", "busy", "reorder", "alert")


class DspConfig(Section):
    """Line standards used by the signal processing: caller ID, tone plan, silence."""

    staff_code_echo_loss_db: float = Field(
        6.0,
        ge=0.0,
        le=40.0,
        title="Phone-leg echo",
        description="The desk phone's line circuit (the SLIC's hybrid) sends part of what the box plays to the "
        "phone, the caller, back on the phone leg; a phone-leg frame this far (dB) or more under what was just "
        "sent is that echo, and the staff-code DTMF detector does not hear it, so a caller's keys are never "
        "taken for the staff's (0: off).",
    )
    callerid_standards: tuple[CallerIdStandard, ...] = Field(
        ("bell202", "v23", "dtmf"),
        title="Caller-ID standards",
        description="Caller-ID signalling listened for on the line: bell202, v23, dtmf.",
    )
    callerid_out: Literal["bell202", "v23"] = Field(
        "bell202", title="Caller ID to the desk phone", description="FSK standard sent to the desk phone."
    )
    callerid_out_format: Literal["mdmf", "sdmf"] = Field(
        "mdmf", title="Caller-ID format to the desk phone", description="mdmf (with name) or sdmf."
    )
    callerid_level_dbm0: float = Field(
        -13.0,
        ge=-30.0,
        le=-6.0,
        title="Caller-ID level",
        description="FSK level towards the desk phone, dBm0.",
    )
    tones: TonePlan = Field(
        default_factory=TonePlan, title="Tone plan", description="Call-progress and staff tones."
    )
    tone_tolerance: float = Field(
        0.2,
        ge=0.05,
        le=0.5,
        title="Cadence tolerance",
        description="Relative tolerance on each on/off time when recognising a cadenced tone.",
    )
    silence_s: float = Field(
        30.0,
        ge=2.0,
        le=600.0,
        title="Long silence",
        description="Seconds of silence on the line leg reported as 'silence' (a dead line).",
    )
    silence_dbm0: float = Field(
        -50.0, ge=-70.0, le=-30.0, title="Silence level", description="Below this level the line is silent."
    )

    @model_validator(mode="after")
    def _some_standard(self) -> DspConfig:
        if not self.callerid_standards:
            raise ValueError("callerid_standards must name at least one of bell202, v23, dtmf")
        return self
