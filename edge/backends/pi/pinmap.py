"""The board's pin map, read from TOML data (hw/pinmap.toml, packaged as edge/backends/pi/pinmap.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

REQUIRED_PINS: dict[str, str] = {
    "relay_en": "out",
    "wdt_kick": "out",
    "daa_oh": "out",
    "daa_ring": "in",
    "daa_cid": "out",
    "loop_detect": "in",
    "slic_rm": "out",
    "slic_fr": "out",
    "slic_shk": "in",
    "slic_pd": "out",
    "button": "in",
    "led": "out",
}
"""Every pin the backend drives or reads, with its direction."""

Direction = Literal["in", "out", "bus"]
Pull = Literal["up", "down", "none"]


class PinMapError(ValueError):
    """The pin map file cannot be used; the message names the file, pin and rule."""


@dataclass(frozen=True)
class PinSpec:
    """One pin: its BCM number, direction and which level means asserted."""

    name: str
    bcm: int
    direction: Direction
    active_high: bool = True
    pull: Pull = "none"
    safe: Literal["low", "high"] | None = None
    pwm: bool = False
    description: str = ""

    @property
    def safe_asserted(self) -> bool:
        """Whether the board's resting level of this output means asserted (it must not)."""
        if self.safe is None:
            return False
        return (self.safe == "high") == self.active_high


@dataclass(frozen=True)
class PinMap:
    """The board's pins by name."""

    board: str
    pins: dict[str, PinSpec]
    source: str

    def __getitem__(self, name: str) -> PinSpec:
        return self.pins[name]


def packaged_pinmap_text() -> str:
    """The pin map shipped inside the package (a copy of hw/pinmap.toml)."""
    return resources.files("edge.backends.pi").joinpath("pinmap.toml").read_text(encoding="utf-8")


def load_pinmap(path: Path | None = None) -> PinMap:
    """Read and check a pin map; ``None`` reads the packaged one."""
    if path is None:
        return parse_pinmap(packaged_pinmap_text(), "packaged pinmap.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PinMapError(f"{path}: cannot be read: {exc}") from None
    return parse_pinmap(text, str(path))


def _spec(source: str, name: str, raw: Any) -> PinSpec:
    if not isinstance(raw, dict):
        raise PinMapError(f"{source}: pins.{name} must be a table")
    unknown = set(raw) - {"bcm", "direction", "active_high", "pull", "safe", "pwm", "description"}
    if unknown:
        raise PinMapError(f"{source}: pins.{name} has unknown keys {sorted(unknown)}")
    bcm = raw.get("bcm")
    if not isinstance(bcm, int) or isinstance(bcm, bool) or not 0 <= bcm <= 27:
        raise PinMapError(f"{source}: pins.{name}.bcm = {bcm!r}: must be a BCM GPIO number 0-27")
    direction = raw.get("direction")
    if direction not in ("in", "out", "bus"):
        raise PinMapError(f"{source}: pins.{name}.direction = {direction!r}: must be 'in', 'out' or 'bus'")
    active_high = raw.get("active_high", True)
    pull = raw.get("pull", "none")
    safe = raw.get("safe")
    pwm = raw.get("pwm", False)
    if not isinstance(active_high, bool) or not isinstance(pwm, bool):
        raise PinMapError(f"{source}: pins.{name}: active_high and pwm must be true or false")
    if pull not in ("up", "down", "none"):
        raise PinMapError(f"{source}: pins.{name}.pull = {pull!r}: must be 'up', 'down' or 'none'")
    if safe not in (None, "low", "high"):
        raise PinMapError(f"{source}: pins.{name}.safe = {safe!r}: must be 'low' or 'high'")
    spec = PinSpec(
        name=name,
        bcm=bcm,
        direction=direction,
        active_high=active_high,
        pull=pull,
        safe=safe,
        pwm=pwm,
        description=str(raw.get("description", "")),
    )
    if direction == "out" and safe is None:
        raise PinMapError(
            f"{source}: pins.{name}: an output needs 'safe', the level its resistor holds at boot"
        )
    if spec.safe_asserted:
        raise PinMapError(
            f"{source}: pins.{name}: the resting level {safe!r} would assert it; outputs must rest released"
        )
    return spec


def parse_pinmap(text: str, source: str = "<pinmap>") -> PinMap:
    """Parse pin map TOML and check every required pin is there, once, with the right direction."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PinMapError(f"{source}: not valid TOML: {exc}") from None
    raw_pins = data.get("pins")
    if not isinstance(raw_pins, dict):
        raise PinMapError(f"{source}: needs a [pins.<name>] table per pin")
    pins = {name: _spec(source, name, raw) for name, raw in raw_pins.items()}
    for name, direction in REQUIRED_PINS.items():
        if name not in pins:
            raise PinMapError(f"{source}: pins.{name} is missing")
        if pins[name].direction != direction:
            raise PinMapError(f"{source}: pins.{name} must have direction {direction!r}")
    seen: dict[int, str] = {}
    for spec in pins.values():
        if spec.bcm in seen:
            raise PinMapError(f"{source}: GPIO{spec.bcm} is used by both {seen[spec.bcm]} and {spec.name}")
        seen[spec.bcm] = spec.name
    return PinMap(board=str(data.get("board", "")), pins=pins, source=source)
