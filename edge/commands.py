"""Core subcommands: check-config, config-schema, simulate, calls."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.cli import CommonParsers, UserError, data_dir_of, print_json
from edge.config import Config, ConfigError, default_config, load_config, resolve_config_path
from edge.scenarios import ScenarioError, load_scenario, scenario_config, shipped_scenarios
from edge.store import CallStore, StoreError
from edge.store.db import DB_NAME

if TYPE_CHECKING:
    from edge.simulate import SimResult


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

    p = subparsers.add_parser(
        "simulate",
        parents=[common.state, common.report],
        help="run a scenario through the whole appliance on the sim backend",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a scenario TOML file, or the name of a shipped one")
    p.add_argument(
        "--realtime", action="store_true", help="run at wall-clock speed instead of as fast as possible"
    )
    p.add_argument("--mqtt", metavar="URL", default=None, help="also publish the events to this MQTT broker")
    p.set_defaults(handler=_simulate)

    p = subparsers.add_parser("calls", parents=[common.state, common.report], help="list recent calls")
    p.add_argument("--limit", type=int, default=20, help="how many calls (default 20)")
    p.add_argument("--events", action="store_true", help="also list each call's events")
    p.add_argument("--number", metavar="NUMBER", default=None, help="one caller's history: calls and strikes")
    p.set_defaults(handler=_calls)

    p = subparsers.add_parser(
        "demo", parents=[common.state], help="run every shipped scenario and show where everything went"
    )
    p.add_argument("--mqtt", metavar="URL", default=None, help="also publish the events to this MQTT broker")
    p.set_defaults(handler=_demo)

    p = subparsers.add_parser(
        "run", parents=[common.state], help="run the appliance (the systemd service runs this)"
    )
    p.add_argument(
        "--scenario",
        metavar="SCENARIO",
        help="sim backend only: the simulated line plays this scenario (a file or a shipped name) at wall-clock"
        " pace, then stays idle; the daemon runs on its own config, the scenario's [config] is not applied",
    )
    p.set_defaults(handler=_run)


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


def _base_config(args: argparse.Namespace) -> Config:
    path = resolve_config_path(getattr(args, "config", None))
    if path is None:
        return default_config()
    try:
        return load_config(path)
    except ConfigError as error:
        raise UserError(f"the config {error.source} is not valid: " + "; ".join(error.problems)) from None


def _find_scenario(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    for shipped in shipped_scenarios():
        if name in (shipped.name, shipped.stem, shipped.stem.split("_", 1)[-1]):
            return shipped
    names = ", ".join(p.stem for p in shipped_scenarios())
    raise UserError(f"no scenario file {name!r}; give a path or one of the shipped scenarios: {names}")


def _run(args: argparse.Namespace) -> int:
    from edge.app import run_daemon

    scenario = None
    if args.scenario is not None:
        path = _find_scenario(args.scenario)
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            raise UserError(f"the scenario {error.source} has errors: " + "; ".join(error.problems)) from None
    return run_daemon(resolve_config_path(args.config), data_dir_of(args), scenario)


def _run_one(
    path: Path, args: argparse.Namespace, data_dir: Path, publisher: Any = None, base: Config | None = None
) -> SimResult:
    # The simulator pulls in the DSP and audio stack; only the commands that run it pay for the import.
    from edge.audio import AudioFileError, SynthesisError
    from edge.simulate import run_scenario

    try:
        scenario = load_scenario(path)
        config = scenario_config(scenario, base or _base_config(args), str(path))
    except ScenarioError as error:
        raise UserError(f"the scenario {error.source} has errors: " + "; ".join(error.problems)) from None
    try:
        return run_scenario(
            scenario, config, data_dir, realtime=getattr(args, "realtime", False), publisher=publisher
        )
    except (SynthesisError, AudioFileError) as exc:
        raise UserError(f"the scenario {path} needs audio that could not be made: {exc}") from None
    except StoreError as exc:
        raise UserError(str(exc)) from None


def _simulate(args: argparse.Namespace) -> int:
    logging.getLogger("lineguard").setLevel(logging.ERROR)  # alarms are in the timeline already
    path = _find_scenario(args.scenario)
    data_dir = data_dir_of(args)
    publisher = None
    if args.mqtt:
        publisher = _mqtt_publisher(args.mqtt, data_dir, _base_config(args))
    try:
        result = _run_one(path, args, data_dir, publisher)
    finally:
        if publisher is not None and not publisher.close(timeout=15):
            print(
                "lineguard: some events are still in the outbox; they go out on the next run", file=sys.stderr
            )
    if args.json:
        print_json(result.as_json())
    else:
        from edge.simulate import format_timeline

        print(format_timeline(result))
    return 1 if result.expectation_failures() else 0


def _mqtt_publisher(url: str, data_dir: Path, config: Config) -> Any:
    from edge.telemetry.client import Telemetry

    try:
        telemetry = Telemetry.from_url(url, config.device.id, config.device.site, data_dir)
    except ValueError as exc:
        raise UserError(f"--mqtt {url}: {exc}") from None
    telemetry.start()
    return telemetry


def _calls(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    if not (data_dir / DB_NAME).exists():
        raise UserError(f"there is no call database in {data_dir} yet (run a call or a simulation first)")
    store = CallStore(data_dir)
    try:
        history = store.caller_history(args.number) if args.number else None
        calls = store.recent_calls(args.limit, number=args.number)
        if args.events:
            for call in calls:
                call["events"] = store.events(call["call_id"])
    finally:
        store.close()
    if args.json:
        print_json({"calls": calls, **({"caller": history} if history else {})})
        return 0
    if history is not None:
        strikes = ", ".join(f"{s['wall'][:10]} {s['basis']}" for s in history["strikes"]) or "none"
        print(f"{args.number}: {history['calls']} calls, strikes: {strikes}")
    if not calls:
        print("no calls yet")
    for call in calls:
        duration = f"{call['duration_s']:.0f} s" if call["duration_s"] is not None else "open"
        print(
            f"{call['started'][:19]}  {call['call_id']}  {call['direction']:<3} {call['number'] or '-':<13} "
            f"{call['outcome'] or 'in progress':<10} {call['basis'] or '':<16} {duration}"
        )
        for event in call.get("events", []):
            basis = f" [{event['basis']}]" if event["basis"] else ""
            print(f"    {event['wall'][11:23]} {event['type']}{basis}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    logging.getLogger("lineguard").setLevel(logging.ERROR)  # alarms are in the timelines already
    data_dir = (
        data_dir_of(args) if (args.data_dir or os.environ.get("LINEGUARD_DATA_DIR")) else Path("demo-data")
    )
    data_dir = data_dir.resolve()
    base, keys = _demo_base(_base_config(args), data_dir)
    publisher = _mqtt_publisher(args.mqtt, data_dir, base) if args.mqtt else None
    failures = 0
    from edge.simulate import format_timeline

    try:
        for path in shipped_scenarios():
            result = _run_one(path, args, data_dir, publisher, base=base)
            print(format_timeline(result))
            print()
            failures += bool(result.expectation_failures())
    finally:
        if publisher is not None:
            print(
                f"Events published to {args.mqtt} under lineguard/{base.device.site}/{base.device.id}/event"
            )
            publisher.close(timeout=15)
    print(demo_epilogue(data_dir, keys))
    return 1 if failures else 0


def _demo_base(base: Config, data_dir: Path) -> tuple[Config, Path | None]:
    """The demo seals recordings to a demo key pair made in the data folder when none is configured."""
    if base.recording.public_key is not None:
        return base, None
    from edge.record.seal import generate_keypair

    keys = data_dir / "demo-keys"
    if not (keys / "central.pub").exists():
        generate_keypair(keys)
    recording = base.recording.model_copy(update={"public_key": str(keys / "central.pub")})
    return base.model_copy(update={"recording": recording}), keys


def demo_epilogue(data_dir: Path, keys: Path | None) -> str:
    """Where the demo's data went and how to look at it."""
    from edge.detect.clips import UNLABELLED

    lg = "lineguard" if shutil.which("lineguard") else ".venv/bin/lineguard"
    lines = [
        f"Call records: {data_dir / DB_NAME}",
        f"  {lg} calls --data-dir {data_dir}            (add --events or --json)",
        f"  sqlite3 {data_dir / DB_NAME} 'select call_id, outcome, basis from calls'",
        f"Sealed recordings: {data_dir / 'recordings'}",
        f"  {lg} verify --data-dir {data_dir}           (hash chain over recordings and events)",
    ]
    if keys is not None:
        lines += [
            f"  {lg} decrypt --key {keys / 'central.key'} {data_dir / 'recordings'}/<call>.lgrec -o call.wav",
            f"Sealed alert clips: {data_dir / 'clips'}",
            f"  {lg} clips list --data-dir {data_dir}       (by staff label and training folder)",
            f"  {lg} clips export --data-dir {data_dir} --key {keys / 'central.key'} --out clips-for-training",
            f"  {lg} clips label clips-for-training/{UNLABELLED}/<clip>.wav --keyword GROUP --end SECONDS",
            "  (a staff-flagged clip: a person marks where a missed keyword ends)",
            f"  (demo only: {keys / 'central.key'} is the private key; a real box never holds it)",
        ]
    return "\n".join(lines)


def _config_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Config.model_json_schema(), indent=2, ensure_ascii=False))
    return 0


__all__ = ["UserError", "register"]
