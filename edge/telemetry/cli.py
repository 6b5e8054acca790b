"""Technician commands: ``lineguard outbox`` (what waits to be sent) and ``lineguard mqtt-check``."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from edge.cli import CommonParsers, UserError, data_dir_of, print_json
from edge.config import ConfigError, load_with_fallback, resolve_config_path
from edge.telemetry.client import make_client
from edge.telemetry.outbox import Outbox, OutboxError
from edge.telemetry.settings import MqttConfig


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add the telemetry subcommands."""
    p = subparsers.add_parser(
        "outbox", parents=[common.state, common.report], help="show the MQTT outbox: waiting, sent, refused"
    )
    p.set_defaults(handler=_outbox)
    p = subparsers.add_parser(
        "mqtt-check", parents=[common.state, common.report], help="try to connect to the configured broker"
    )
    p.add_argument(
        "--url", default=None, help="mqtt:// or mqtts://host:port?ca=&cert=&key= instead of [mqtt]"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    p.set_defaults(handler=_mqtt_check)


def _outbox(args: argparse.Namespace) -> int:
    path = data_dir_of(args) / "outbox.db"
    if not path.exists():
        raise UserError(f"there is no outbox at {path}; telemetry has not run with this data folder")
    try:
        box = Outbox(path)
    except OutboxError as exc:
        raise UserError(str(exc)) from None
    try:
        info = {
            "path": str(path),
            "epoch": box.epoch,
            "waiting": box.depth(),
            "refused": box.refused_count(),
            "first_kept_seq": box.first_seq(),
            "last_seq": box.last_seq(),
            "used_mb": round(box.used_bytes() / 2**20, 2),
        }
    finally:
        box.close()
    if args.json:
        print_json(info)
    else:
        print(
            f"outbox {path}: {info['waiting']} waiting, {info['refused']} refused by the broker, "
            f"events {info['first_kept_seq']}..{info['last_seq']} kept (epoch {box.epoch}), {info['used_mb']} MB"
        )
    return 0


def _settings(args: argparse.Namespace) -> MqttConfig:
    if args.url:
        try:
            return MqttConfig.from_url(args.url)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    try:
        config, problems = load_with_fallback(resolve_config_path(args.config), data_dir_of(args))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if problems:
        raise UserError("the config has problems: " + "; ".join(problems))
    if not config.mqtt.enabled:
        raise UserError(
            "MQTT is not enabled in the config ([mqtt] enabled = false); give --url to test a broker"
        )
    return config.mqtt


def _mqtt_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for name in ("ca_file", "cert_file", "key_file"):
        value: Path | None = getattr(settings, name)
        if value is not None and not value.exists():
            raise UserError(f"mqtt.{name} {value} does not exist")
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome.update(connected=not reason.is_failure, reason=str(reason))
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome.setdefault("reason", f"disconnected by the broker: {reason}")
        outcome.setdefault("connected", False)
        done.set()

    client = make_client(settings, f"mqtt-check-{threading.get_native_id()}")
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(settings.host, settings.port, keepalive=10)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot reach {settings.host}:{settings.port}: {exc}") from None
    client.loop_start()
    done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    result = {"broker": f"{settings.host}:{settings.port}", "tls": settings.tls, **outcome}
    if args.json:
        print_json(result)
    elif outcome.get("connected"):
        print(f"connected to {result['broker']} ({'TLS' if settings.tls else 'no TLS'})")
    if not outcome.get("connected"):
        raise UserError(
            f"broker {result['broker']} did not accept the connection: {outcome.get('reason', 'timeout')}"
        )
    return 0
