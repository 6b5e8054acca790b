"""The fail-safe command: every board output to its released level, relay first.

``python -m edge.backends.pi.bypass`` is what systemd runs after the daemon stops (ExecStopPost) and at boot;
it loads only the config and the pin map, not every subcommand, so it takes a fraction of a second.
``lineguard bypass`` is the same for a technician.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from edge.backends.pi.pinmap import PinMap, PinMapError, load_pinmap
from edge.cli import UserError, data_dir_of, fail, print_json

_keep: list[Any] = []
"""The devices stay open (pins driven) until the process exits; then the board's resistors hold them."""


def pinmap_of(args: argparse.Namespace) -> PinMap:
    """The pin map the config names; a broken config or pin map falls back, never stopping the fail-safe."""
    from edge.config import load_with_fallback, resolve_config_path

    config, _problems = load_with_fallback(resolve_config_path(args.config), data_dir_of(args))
    try:
        return load_pinmap(config.pi.pinmap)
    except PinMapError as exc:
        if config.pi.pinmap is None:
            raise UserError(f"the packaged pin map is unusable: {exc}") from None
        return load_pinmap(None)


def drive_safe(pinmap: PinMap, pin_factory: Any = None) -> list[dict[str, Any]]:
    """Drive every output released, relay first, then the line; returns what was set."""
    from gpiozero import DigitalOutputDevice

    order = sorted(
        (spec for spec in pinmap.pins.values() if spec.direction == "out"),
        key=lambda spec: (spec.name != "relay_en", spec.name != "daa_oh", spec.name),
    )
    done: list[dict[str, Any]] = []
    for spec in order:
        device = DigitalOutputDevice(
            spec.bcm, active_high=spec.active_high, initial_value=False, pin_factory=pin_factory
        )
        _keep.append(device)
        done.append({"pin": spec.name, "bcm": spec.bcm, "level": "high" if device.pin.state else "low"})
    return done


def run(args: argparse.Namespace) -> int:
    """Drive the pins and report them (``args``: config, data_dir, json)."""
    from gpiozero import GPIOZeroError

    pinmap = pinmap_of(args)
    try:
        done = drive_safe(pinmap)
    except (GPIOZeroError, OSError, RuntimeError) as exc:
        raise UserError(
            f"could not drive the board's pins ({type(exc).__name__}: {exc}); the external watchdog still "
            "releases the relay within 1.5 s once nothing kicks it"
        ) from None
    if args.json:
        print_json({"ok": True, "board": pinmap.board, "pins": done})
    else:
        for item in done:
            print(f"{item['pin']:<12} GPIO{item['bcm']:<3} {item['level']}")
        print("relay released: the desk phone is on the wall line")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m edge.backends.pi.bypass``."""
    parser = argparse.ArgumentParser(prog="lineguard-bypass", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="FILE", default=None, help="config file (for [pi].pinmap)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="where the last good config is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        fail(str(exc), status=2)


if __name__ == "__main__":
    sys.exit(main())
