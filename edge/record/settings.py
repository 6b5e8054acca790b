"""The ``[recording]`` config section: what is recorded, how it is sealed, how long it is kept."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator, model_validator

from edge.settings import Section, check_phone_numbers


def _is_base64_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text.strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


class RecordingConfig(Section):
    """Call recording: Opus, sealed to the central public key, kept by the local retention rule."""

    enabled: bool = Field(
        True, title="Enabled", description="Record every connected call (both legs, separate channels)."
    )
    notice: bool = Field(
        True,
        title="Recording notice",
        description="Play the recording_notice prompt to the caller before the desk phone is rung.",
    )
    public_key: str | None = Field(
        None,
        title="Central public key",
        description=(
            "The central X25519 public key recordings are sealed to: 44 characters of base64, or the path "
            "of a file holding them (made by 'lineguard keygen'). Without it nothing is recorded and an "
            "alarm is raised; recordings are never stored unsealed."
        ),
    )
    bitrate_kbps: int = Field(
        16,
        ge=12,
        le=64,
        title="Opus bitrate",
        description="Target Opus bitrate for both channels together, kbit/s (8 kHz narrowband speech).",
    )
    chunk_seconds: float = Field(
        1.0,
        ge=0.2,
        le=2.0,
        title="Chunk length",
        description="Seconds of audio per sealed chunk written with fsync; at most this much is lost on a power cut.",
    )
    retention_days: float = Field(
        60.0,
        gt=0,
        le=36500,
        title="Retention",
        description="Days an ordinary recording is kept before it is deleted.",
    )
    incident_retention_days: float = Field(
        1095.0,
        gt=0,
        le=36500,
        title="Incident retention",
        description="Days a recording tied to an incident (abuse, cut, staff mark) is kept.",
    )
    disk_cap_percent: float = Field(
        70.0,
        gt=0,
        le=98,
        title="Disk cap",
        description="Delete oldest recordings once the data partition is fuller than this percentage.",
    )
    no_record: tuple[str, ...] = Field(
        (),
        title="No-record numbers",
        description="Numbers (e.g. internal extensions) whose calls are never recorded.",
    )

    @field_validator("public_key")
    @classmethod
    def _key_or_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must be a base64 X25519 public key or the path of a key file")
        looks_like_base64 = len(value) == 44 and value.endswith("=")
        if looks_like_base64 and not _is_base64_key(value):
            raise ValueError("is not a valid base64 X25519 public key (32 bytes)")
        return value

    @field_validator("no_record")
    @classmethod
    def _numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_phone_numbers(value)

    @model_validator(mode="after")
    def _incident_longer(self) -> RecordingConfig:
        if self.incident_retention_days < self.retention_days:
            raise ValueError(
                f"incident_retention_days ({self.incident_retention_days:g}) must not be shorter than "
                f"retention_days ({self.retention_days:g})"
            )
        return self
