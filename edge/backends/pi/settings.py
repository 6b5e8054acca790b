"""The ``[pi]`` config section: pin map, codec stream, ring qualification, debounce and press timing."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge.settings import Section


class PiConfig(Section):
    """The Raspberry Pi board backend."""

    pinmap: Path | None = Field(
        None,
        title="Pin map file",
        description="TOML pin map (see hw/pinmap.toml); the packaged lineguard-hat map when left out.",
    )
    audio_device: str = Field(
        "wm8960",
        title="Audio device",
        description="Name (or part of it) of the sound device, as listed by 'python -m sounddevice'.",
        min_length=1,
    )
    codec_rate: Literal[8000, 16000, 24000, 32000, 48000] = Field(
        48000,
        title="Codec rate",
        description="Sample rate of the codec stream in Hz; a multiple of 8000 so 8 kHz is an exact ratio.",
    )
    blocksize: int = Field(
        480,
        ge=32,
        le=4800,
        title="Block size",
        description="Frames per sound-device callback at the codec rate (480 = 10 ms at 48 kHz).",
    )
    queue_frames: int = Field(
        25,
        ge=3,
        le=500,
        title="Queue depth",
        description="20 ms frames held each way between the sound device and the appliance before dropping.",
    )
    stall_restart_s: float = Field(
        1.0,
        ge=0.1,
        le=10.0,
        title="Stall restart",
        description="Seconds without a sound-device callback after which the stream is reopened.",
    )
    ring_min_hz: float = Field(
        15.0,
        ge=5.0,
        le=100.0,
        title="Ring min frequency",
        description="Slowest ring pulse rate accepted, Hz.",
    )
    ring_max_hz: float = Field(
        68.0,
        ge=5.0,
        le=200.0,
        title="Ring max frequency",
        description="Fastest ring pulse rate accepted, Hz.",
    )
    ring_min_burst_s: float = Field(
        0.15,
        ge=0.02,
        le=2.0,
        title="Ring qualify time",
        description="Seconds of pulses at a ring rate before a ring burst counts (rejects clicks and dial pulses).",
    )
    ring_gap_s: float = Field(
        0.2,
        ge=0.05,
        le=2.0,
        title="Ring gap",
        description="Seconds without a pulse that end a ring burst; must exceed the slowest pulse period.",
    )
    debounce_ms: float = Field(
        30.0,
        ge=0.0,
        le=500.0,
        title="Debounce",
        description="Milliseconds the hook switch and the button must be stable before a change counts.",
    )
    ring_pulse_debounce_ms: float = Field(
        3.0,
        ge=0.0,
        le=10.0,
        title="Ring pulse debounce",
        description="Ring-detect edges closer than this many milliseconds are contact noise, not pulses.",
    )
    long_press_s: float | None = Field(
        None,
        ge=0.5,
        le=5.0,
        title="Long press",
        description="Seconds the button is held for a long press; [staff].long_press_s when left out.",
    )
    loop_drop_ms: float = Field(
        300.0,
        ge=20.0,
        le=5000.0,
        title="Loop drop",
        description="Milliseconds without loop current while off hook that mean the far end hung up.",
    )
    polarity_reversal_hangup: bool = Field(
        False,
        title="Polarity reversal is hang-up",
        description="Treat a short loop-current dropout (a polarity reversal) as far-end hang-up; exchange-dependent.",
    )
    cid_path_idle: bool = Field(
        False,
        title="Caller ID path open while idle",
        description="Keep the DAA's caller-ID path open whenever on hook and not ringing, for exchanges that send caller ID before the first ring.",
    )
    seize_settle_ms: float = Field(
        600.0,
        ge=0.0,
        le=5000.0,
        title="Seize settle time",
        description="Milliseconds after going off hook before loop-current loss is believed.",
    )
    phone_ring_hz: float = Field(
        20.0, ge=15.0, le=50.0, title="Desk ring frequency", description="F/R toggle rate while ringing, Hz."
    )
    phone_ring_on_s: float = Field(
        1.0, ge=0.2, le=5.0, title="Desk ring on", description="Seconds of ringing in each cadence cycle."
    )
    phone_ring_off_s: float = Field(
        2.0, ge=0.2, le=10.0, title="Desk ring off", description="Seconds of silence in each cadence cycle."
    )
    ring_pwm: Literal["gpio", "sysfs"] = Field(
        "gpio",
        title="Ring PWM driver",
        description="'sysfs' drives F/R with the SoC's hardware PWM (/sys/class/pwm); 'gpio' uses the pin factory's PWM.",
    )
    pwm_chip: str = Field(
        "/sys/class/pwm/pwmchip0",
        title="PWM chip",
        description="sysfs PWM chip for 'sysfs' ring PWM (dtoverlay=pwm,pin=12,func=4 gives pwmchip0 channel 0).",
    )
    pwm_channel: int = Field(
        0, ge=0, le=3, title="PWM channel", description="Channel of the PWM chip for F/R."
    )
    watchdog_kick_min_s: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        title="Watchdog kick spacing",
        description="Minimum seconds between edges on WDT_KICK (kicks in between are merged).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PiConfig:
        if self.ring_min_hz >= self.ring_max_hz:
            raise ValueError(
                f"ring_min_hz ({self.ring_min_hz:g}) must be below ring_max_hz ({self.ring_max_hz:g})"
            )
        if self.ring_gap_s <= 1.0 / self.ring_min_hz:
            raise ValueError(
                f"ring_gap_s ({self.ring_gap_s:g}) must exceed one period of the slowest ring "
                f"(1/ring_min_hz = {1.0 / self.ring_min_hz:.3f} s)"
            )
        if self.blocksize > self.codec_rate // 5:
            raise ValueError(
                f"blocksize ({self.blocksize}) must be at most 200 ms of audio ({self.codec_rate // 5})"
            )
        return self
