"""The one ``lineguard`` command: common options, subcommand registry, error reporting."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from edge import __version__

if TYPE_CHECKING:
    from edge.ports import Pcm

COMMAND_MODULES: tuple[str, ...] = (
    "edge.commands",
    "edge.record.cli",
    "edge.console.cli",
    "edge.backends.pi.commands",
    "edge.detect.cli",
    "edge.detect.clips_cli",
    "edge.dsp.cli",
    "edge.telemetry.cli",
)
"""Modules that add subcommands; each has ``register(subparsers, common)``."""

DEFAULT_DATA_DIR = Path("/var/lib/lineguard")


class UserError(Exception):
    """A problem the user can fix; printed as one paragraph, exit status 2."""


class Registrar(Protocol):
    """What a command module exposes."""

    def __call__(self, subparsers: Any, common: CommonParsers) -> None: ...


class CommonParsers:
    """Parent parsers for the shared options, so every command spells them the same way."""

    def __init__(self) -> None:
        self.state = argparse.ArgumentParser(add_help=False)
        self.state.add_argument(
            "--config",
            metavar="FILE",
            default=None,
            help="config file (default: $LINEGUARD_CONFIG, /etc/lineguard/lineguard.toml, or the packaged demo)",
        )
        self.state.add_argument(
            "--data-dir",
            metavar="DIR",
            default=None,
            help="where the database and recordings live (default: $LINEGUARD_DATA_DIR or /var/lib/lineguard)",
        )
        self.report = argparse.ArgumentParser(add_help=False)
        self.report.add_argument("--json", action="store_true", help="print one JSON object on stdout")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(f"{message}. Run '{self.prog} --help' for the options.", status=2)


def fail(message: str, status: int = 2) -> NoReturn:
    """Print one clear paragraph to stderr and exit."""
    text = textwrap.fill(f"lineguard: {message}", width=100, break_long_words=False, break_on_hyphens=False)
    print(text, file=sys.stderr)
    raise SystemExit(status)


def data_dir_of(args: argparse.Namespace) -> Path:
    """``--data-dir``, else ``LINEGUARD_DATA_DIR``, else the device default."""
    explicit = getattr(args, "data_dir", None)
    if explicit:
        return Path(explicit)
    env = os.environ.get("LINEGUARD_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def audit_dir_of(args: argparse.Namespace, beside: Path | None) -> Path:
    """Where opening evidence is logged: an explicit ``--data-dir``/``LINEGUARD_DATA_DIR``, else the data
    dir the evidence came from (``beside``, when known), else the device default."""
    if getattr(args, "data_dir", None) or os.environ.get("LINEGUARD_DATA_DIR"):
        return data_dir_of(args)
    return beside or data_dir_of(args)


def recording(path: Path, channel: int | None = None) -> Iterator[Pcm]:
    """A recording named on the command line, block by block as 16-bit PCM at 8 kHz (``edge.audio.recording_blocks``).

    Its problems, found before the first block or while reading, are a UserError in one sentence.
    """
    from edge.audio import AudioFileError, recording_blocks  # soundfile: only commands that read audio

    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    try:
        blocks = recording_blocks(path, channel)
    except AudioFileError as error:
        raise UserError(str(error)) from None

    def reported() -> Iterator[Pcm]:
        try:
            yield from blocks
        except AudioFileError as error:
            raise UserError(str(error)) from None

    return reported()


def read_recording(path: Path, channel: int | None = None) -> Pcm:
    """``recording`` joined: a whole recording as 16-bit PCM at 8 kHz; UserError for what is not audio."""
    import numpy as np

    parts = list(recording(path, channel))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def print_json(obj: object) -> None:
    """One JSON object on stdout (UTF-8 kept readable)."""
    print(json.dumps(obj, ensure_ascii=False, sort_keys=False, default=str))


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered subcommand."""
    parser = _Parser(prog="lineguard", description="lineguard: a guard for a community center's phone line.")
    parser.add_argument("--version", action="version", version=f"lineguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    common = CommonParsers()
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        register: Registrar = module.register
        register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one paragraph on stderr, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UserError as exc:
        fail(str(exc), status=2)
    except KeyboardInterrupt:
        fail("interrupted", status=130)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("LINEGUARD_DEBUG"):
            raise
        fail(
            f"internal error in '{args.command}': {type(exc).__name__}: {exc}. "
            "Set LINEGUARD_DEBUG=1 to see the traceback, and please report it.",
            status=1,
        )
