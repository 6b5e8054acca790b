"""The ``[console]`` config section: where the serial console listens and how its login behaves."""

from __future__ import annotations

from pydantic import Field, field_validator

from edge.settings import Section


class ConsoleConfig(Section):
    """The technician serial console (115200 8N1 by default)."""

    serial_device: str | None = Field(
        None,
        title="Serial device",
        description="Serial port the console is served on, e.g. /dev/ttyAMA0 or /dev/ttyGS0; none: no console.",
    )
    baud: int = Field(
        115200,
        title="Baud rate",
        description="Line speed of the serial port (8 data bits, no parity, 1 stop bit).",
    )
    idle_logout_s: float = Field(
        300.0,
        ge=10.0,
        le=86400.0,
        title="Idle logout",
        description="Seconds without a key press after which a logged-in technician is logged out.",
    )
    max_failures: int = Field(
        5,
        ge=1,
        le=50,
        title="Failures before lockout",
        description="Wrong passwords in a row after which the login is locked.",
    )
    lockout_s: float = Field(
        300.0,
        ge=1.0,
        le=86400.0,
        title="Lockout time",
        description="Seconds the login stays locked after too many wrong passwords.",
    )
    failure_delay_s: float = Field(
        1.0,
        ge=0.0,
        le=30.0,
        title="Delay after a wrong password",
        description="Seconds during which input is ignored after a wrong password (rate limit).",
    )
    ascii_only: bool = Field(
        False,
        title="ASCII only",
        description="Send only ASCII (Korean romanized, other text simplified) for terminals without UTF-8.",
    )

    @field_validator("baud")
    @classmethod
    def _standard_baud(cls, value: int) -> int:
        # A typo such as 11520 would silence the console without any visible error.
        if value not in STANDARD_BAUDS:
            raise ValueError(f"must be one of {', '.join(map(str, STANDARD_BAUDS))}")
        return value


STANDARD_BAUDS: tuple[int, ...] = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
"""Line speeds offered by the Pi's UARTs and common USB-serial adapters."""
