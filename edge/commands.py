"""Core subcommands: check-config, config-schema, simulate, calls."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.cli import CommonParsers, UserError, print_json
from edge.config import Config, ConfigError, load_config


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add the core subcommands."""
    p = subparsers.add_parser(
        "check-config", parents=[common.report], help="validate a config file and print every problem"
    )
    p.add_argument("file", metavar="FILE", help="the TOML config file to check")
    p.set_defaults(handler=_check_config)

    p = subparsers.add_parser(
        "config-schema", help="print the JSON schema of the config, with every key described"
    )
    p.set_defaults(handler=_config_schema)


def _check_config(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        load_config(path)
    except ConfigError as error:
        if args.json:
            print_json({"ok": False, "file": str(path), "errors": error.problems})
        else:
            for problem in error.problems:
                print(f"{path}: {problem}")
        return 1
    if args.json:
        print_json({"ok": True, "file": str(path), "errors": []})
    else:
        print(f"{path}: ok")
    return 0


def _config_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Config.model_json_schema(), indent=2, ensure_ascii=False))
    return 0


__all__ = ["UserError", "register"]
