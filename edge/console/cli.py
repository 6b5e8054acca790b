"""``lineguard console`` (serve the technician console on a serial port) and ``lineguard passwd``."""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from edge.cli import CommonParsers, UserError, data_dir_of
from edge.config import load_with_fallback, resolve_config_path
from edge.console.auth import AuthStore, PasswordError
from edge.console.local_backend import LocalBackend
from edge.console.serve import SerialConsole
from edge.console.settings import STANDARD_BAUDS

if TYPE_CHECKING:
    from edge.console.simhost import SimAppliance


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add ``console`` and ``passwd``."""
    p = subparsers.add_parser(
        "console",
        parents=[common.state],
        help="serve the technician console on a serial port (115200 8N1 by default)",
        description="Serve the technician console on a serial port until stopped (Ctrl-C or SIGTERM).",
    )
    p.add_argument(
        "--serial",
        metavar="DEVICE",
        help="serial device, e.g. /dev/ttyUSB0 (default: [console] serial_device)",
    )
    p.add_argument("--baud", type=int, default=None, help="line speed (default: [console] baud, 115200)")
    p.add_argument(
        "--log", metavar="FILE", default=None, help="log file shown by 'log tail' (default: the journal)"
    )
    p.add_argument(
        "--sim",
        action="store_true",
        help="also run the appliance on the sim backend in this process, so status, diag and tests are live",
    )
    p.set_defaults(handler=_console)

    p = subparsers.add_parser(
        "passwd",
        parents=[common.state],
        help="set the technician console password (read from standard input)",
        description="Set the console password: typed twice on a terminal, or the first line of standard input.",
    )
    p.add_argument(
        "--expire", action="store_true", help="make the technician choose a new one at the next login"
    )
    p.set_defaults(handler=_passwd)


def _console(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    config_path = resolve_config_path(args.config)
    config, problems = load_with_fallback(config_path, data_dir)
    for problem in problems:
        print(f"lineguard: config: {problem}", file=sys.stderr)
    settings = config.console
    device = args.serial or settings.serial_device
    if not device:
        raise UserError(
            "no serial device: pass --serial DEVICE or set serial_device in the [console] section"
        )
    if not Path(device).exists():
        raise UserError(f"serial device {device} does not exist; check the cable and the device name")
    if args.baud is not None:
        if args.baud not in STANDARD_BAUDS:
            raise UserError(f"--baud must be one of {', '.join(map(str, STANDARD_BAUDS))}")
        settings = settings.model_copy(update={"baud": args.baud})
    log_path = Path(args.log) if args.log else None
    sim: SimAppliance | None = None
    console: SerialConsole | None = None
    if args.sim:
        from edge.console.simhost import SimAppliance

        config = config.model_copy(update={"console": settings})
        sim = SimAppliance(config, config_path, data_dir, log_path=log_path, device=device)
        sim.start()
    else:
        backend = LocalBackend(config_path, data_dir, log_path=log_path)
        console = SerialConsole(backend, settings, data_dir, device=device)
        console.start()
    logging.basicConfig(level=logging.INFO, format="lineguard console: %(message)s")
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"lineguard: console on {device} at {settings.baud} 8N1; Ctrl-C stops", file=sys.stderr, flush=True)
    done.wait()
    if console is not None:
        console.stop()
    if sim is not None:
        sim.close()
    return 0


def _passwd(args: argparse.Namespace) -> int:
    store = AuthStore(data_dir_of(args))
    if sys.stdin.isatty():
        first = getpass.getpass("New console password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise UserError("the two passwords differ; nothing was changed")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    try:
        store.set_password(first, must_change=args.expire)
    except PasswordError as exc:
        raise UserError(f"{exc}; nothing was changed") from None
    except OSError as exc:
        raise UserError(f"cannot write {store.path}: {exc.strerror or exc}") from None
    detail = "set with 'lineguard passwd'" + (", to be changed at the next login" if args.expire else "")
    LocalBackend(None, data_dir_of(args)).audit("console.passwd", detail)
    print(f"console password set in {store.path}", file=sys.stderr)
    return 0
