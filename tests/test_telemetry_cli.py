"""Technician commands: ``lineguard outbox`` and ``lineguard mqtt-check`` against a real TLS broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge import cli
from edge.telemetry.outbox import Outbox
from tests.mqtt_support import Broker, run_cli
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(cli.main, capsys, *args)


def test_outbox_shows_what_waits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "outbox", "--data-dir", str(tmp_path))
    assert status == 2 and "there is no outbox" in err
    box = Outbox(tmp_path / "outbox.db", synchronous="normal")
    rows = [box.add("event", "t/event", {"n": n}) for n in range(3)]
    box.settle([rows[0].id])
    box.close()
    status, out, _ = _run(capsys, "outbox", "--data-dir", str(tmp_path), "--json")
    info = json.loads(out)
    assert status == 0 and info["waiting"] == 2 and info["last_seq"] == 3 and info["first_kept_seq"] == 1


def test_mqtt_check_connects_with_a_good_certificate_and_explains_a_bad_one(
    broker: Broker, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert broker.pki is not None
    p = broker.pki
    base = f"mqtts://127.0.0.1:{broker.port}?ca={p.ca}"
    status, out, _ = _run(
        capsys, "mqtt-check", "--url", f"{base}&cert={p.cert('lg-a')}&key={p.key('lg-a')}", "--json"
    )
    assert status == 0 and json.loads(out)["connected"] is True
    bad = f"{base}&cert={p.cert('intruder')}&key={p.key('intruder')}"
    status, _, err = _run(capsys, "mqtt-check", "--url", bad, "--timeout", "3")
    assert status == 2 and "lineguard:" in err and "Traceback" not in err
    missing = f"{base}&cert={tmp_path / 'nope.pem'}&key={tmp_path / 'nope.key'}"
    status, _, err = _run(capsys, "mqtt-check", "--url", missing)
    assert status == 2 and "does not exist" in err
