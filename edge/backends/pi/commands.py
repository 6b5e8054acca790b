"""Board subcommands: ``lineguard bypass`` (systemd's ExecStopPost) and ``lineguard pins``."""

from __future__ import annotations

import argparse
from typing import Any

from edge.backends.pi.pinmap import PinMap, PinMapError, load_pinmap
from edge.cli import CommonParsers, UserError, data_dir_of, print_json


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add ``bypass`` and ``pins``."""
    p = subparsers.add_parser(
        "bypass",
        parents=[common.state, common.report],
        help="drive every board output to its safe level: relay released (phone on the wall line), line on hook",
    )
    p.set_defaults(handler=_bypass)
    p = subparsers.add_parser(
        "pins", parents=[common.state, common.report], help="print the board's pin map and what each pin does"
    )
    p.set_defaults(handler=_pins)


def _pinmap(args: argparse.Namespace) -> PinMap:
    from edge.config import load_with_fallback, resolve_config_path

    # A broken config must never stop the fail-safe: fall back like the daemon does.
    config, _problems = load_with_fallback(resolve_config_path(args.config), data_dir_of(args))
    try:
        return load_pinmap(config.pi.pinmap)
    except PinMapError as exc:
        if config.pi.pinmap is None:
            raise UserError(f"the packaged pin map is unusable: {exc}") from None
        return load_pinmap(None)


def drive_safe(pinmap: PinMap, pin_factory: Any = None) -> list[dict[str, Any]]:
    """Drive every output released, relay first; returns what was set (the devices stay open until exit)."""
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


_keep: list[Any] = []


def _bypass(args: argparse.Namespace) -> int:
    from gpiozero import GPIOZeroError

    pinmap = _pinmap(args)
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


def _pins(args: argparse.Namespace) -> int:
    pinmap = _pinmap(args)
    rows = [
        {
            "pin": spec.name,
            "bcm": spec.bcm,
            "direction": spec.direction,
            "active": "high" if spec.active_high else "low",
            "description": spec.description,
        }
        for spec in sorted(pinmap.pins.values(), key=lambda s: s.bcm)
    ]
    if args.json:
        print_json({"board": pinmap.board, "source": pinmap.source, "pins": rows})
    else:
        print(f"{pinmap.board} ({pinmap.source})")
        for row in rows:
            print(
                f"GPIO{row['bcm']:<3} {row['pin']:<12} {row['direction']:<4} {row['active']:<5} {row['description']}"
            )
    return 0
