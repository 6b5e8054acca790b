"""Board subcommands: ``lineguard bypass`` (systemd's ExecStopPost) and ``lineguard pins``."""

from __future__ import annotations

import argparse
from typing import Any

from edge.backends.pi.bypass import drive_safe, pinmap_of
from edge.backends.pi.bypass import run as run_bypass
from edge.cli import CommonParsers, print_json

__all__ = ["drive_safe", "register"]


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


def _bypass(args: argparse.Namespace) -> int:
    return run_bypass(args)


def _pins(args: argparse.Namespace) -> int:
    pinmap = pinmap_of(args)
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
