"""The central receiver's store, dashboard (checked in headless Chromium) and command line."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import VerifyKey

from central import cli
from central.receiver import Receiver
from central.store import EventRow, Store
from central.web import render, serve, summary
from edge.telemetry.client import Telemetry
from tests.mqtt_support import Broker, free_port, run_cli
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import REPO, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


def _feed(broker: Broker, tmp_path: Path, receiver: Receiver) -> None:
    """Two real boxes report calls, warnings and cuts; one goes offline."""
    boxes = []
    for device, site in (("lg-a", "site-a"), ("lg-b", "site-b")):
        tele = Telemetry(broker.settings(device), device, site, tmp_path / device, _Quiet())
        tele.start()
        boxes.append(tele)
        for category in ("insult", "insult", "threat"):
            tele.publish_event({"type": "warning", "category": category, "basis": f"abuse.{category}"})
        tele.publish_event({"type": "cut", "category": "threat", "basis": "abuse.threat"})
        tele.publish_event({"type": "strike", "number": "01055550000", "basis": "abuse.threat", "strikes": 1})
        tele.publish_health({"uptime_s": 10, "cpu_temp_c": 48.5})
    wait_for(
        lambda: receiver.counters.events == 10 and receiver.counters.health == 2, 15, "reports not received"
    )
    boxes[1].stop()  # says offline itself
    # lg-a loses its link without a goodbye: the broker publishes its last will.
    sock = boxes[0]._client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    wait_for(lambda: summary(receiver.store)["online"] == 0, 10, "last will not seen")
    boxes[0].stop()


def test_duplicates_are_dropped_and_the_summary_counts_what_arrived(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    row = EventRow(
        "lg-a", "site-a", "e", 1, time.time(), {"type": "warning", "category": "<script>x</script>"}
    )
    store.commit_events([row, row], {("lg-a", "e"): 2})
    store.commit_events([row], {})
    data = summary(store)
    assert data["events_total"] == 1 and store.next_seqs() == {("lg-a", "e"): 2}
    page = render(data)
    assert "<script>" not in page and "&lt;script&gt;" in page  # a box cannot inject markup


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_dashboard_renders_in_headless_chromium(tmp_path: Path, broker: Broker, receiver: Receiver) -> None:
    _feed(broker, tmp_path, receiver)
    server, _ = serve(
        receiver.store, "127.0.0.1", 0, extra=lambda: {"repeat_callers": receiver.repeat_callers()}
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        env = {**os.environ, "HOME": str(tmp_path)}
        dom = subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'chrome'}", "--dump-dom", url],
            capture_output=True, text=True, timeout=60, env=env,
        ).stdout  # fmt: skip
        shot = tmp_path / "dashboard.png"
        subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'chrome'}", f"--screenshot={shot}",
             "--window-size=1000,1600", url],
            capture_output=True, timeout=60, env=env,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert "0 of 2 boxes online" in dom and "10 events" in dom
    assert dom.count('class="device offline"') == 2
    incidents = dom.split('id="incidents"')[1].split("</figure>")[0]
    assert incidents.count('class="bar"') == 2 and "insult: 4" in incidents and "threat: 4" in incidents
    sites = dom.split('id="sites"')[1].split("</figure>")[0]
    assert "site-a insult: 2" in sites and "site-b threat: 2" in sites
    assert "cuts: 2" in dom.split('id="cuts"')[1]
    assert "<li>01055550000</li>" in dom  # cut at two sites: a repeat caller
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _central(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``lineguard-central`` in this process: (exit status, stdout, stderr)."""
    return run_cli(cli.main, capsys, *args)


def test_cli_refuses_bad_input_in_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _central(capsys, "--broker", "http://example", "--http", "off")
    assert status == 2 and "must start with mqtt://" in err and "Traceback" not in err
    status, _, err = _central(capsys, "--broker", "mqtt://127.0.0.1:1", "--db", "mysql://x", "--http", "off")
    assert status == 2 and "sqlite:///path or postgresql://" in err
    status, _, err = _central(
        capsys, "command", "--broker", "mqtt://127.0.0.1:1", "s", "d", "config.get", "[1]"
    )
    assert status == 2 and "must be a JSON object" in err


def test_cli_keygen_and_sign_model_make_a_payload_the_box_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "model-signing.key"
    _, made, _ = _central(capsys, "keygen", str(key))
    public = bytes.fromhex(json.loads(made)["public_key_hex"])
    assert _central(capsys, "keygen", str(key))[0] == 2  # never overwrites
    model = tmp_path / "kws.tflite"
    model.write_bytes(b"TFL3model")
    payload = json.loads(_central(capsys, "sign-model", "--key", str(key), str(model), "v7")[1])
    data = base64.b64decode(payload["model_b64"])
    assert data == b"TFL3model" and payload["version"] == "v7"
    VerifyKey(public).verify(data, base64.b64decode(payload["signature_b64"]))


def test_cli_runs_the_receiver_and_dashboard_and_stops_on_sigterm(tmp_path: Path, broker: Broker) -> None:
    assert broker.pki is not None
    p = broker.pki
    url = f"mqtts://127.0.0.1:{broker.port}?ca={p.ca}&cert={p.cert('central')}&key={p.key('central')}"
    port = free_port()
    cmd = [sys.executable, "-m", "central.cli", "--broker", url, "--db", f"sqlite:///{tmp_path / 'c.db'}"]
    cmd += ["--http", f"127.0.0.1:{port}", "--files", str(tmp_path / "files")]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tele = Telemetry(broker.settings("lg-c"), "lg-c", "site-c", tmp_path / "lg-c", _Quiet())
    try:
        tele.start()
        tele.publish_event({"type": "call.started"})

        def events() -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=1) as r:
                    return int(json.load(r)["events_total"])
            except OSError:
                return -1

        wait_for(lambda: events() == 1, 20, "central CLI did not store the event")
        reply = subprocess.run(
            [sys.executable, "-m", "central.cli", "command", "--broker", url, "site-c", "lg-c", "outbox.resend",
             '{"first": 1, "last": 1}'],
            cwd=REPO, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert reply.returncode == 0 and json.loads(reply.stdout)["result"]["resent"] == 1
    finally:
        tele.stop()
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0]
    assert proc.returncode == 0, out
    assert f"dashboard on http://127.0.0.1:{port}/" in out
