"""`lineguard run` reporting to a real Mosquitto (TLS, ACL) and obeying central's commands."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np

from central.receiver import Receiver
from edge.detect.clips import SealedClipSink, source_clips
from edge.record.seal import generate_keypair
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for
from tests.test_daemon import messages_until, start


def test_daemon_reports_health_and_applies_a_config_patch(
    tmp_path: Path, broker: Broker, receiver: Receiver
) -> None:
    assert broker.pki is not None
    p = broker.pki
    config = tmp_path / "lineguard.toml"
    config.write_text(
        f"""
[device]
id = "lg-a"
site = "site-a"
[mqtt]
enabled = true
host = "127.0.0.1"
port = {broker.port}
ca_file = "{p.ca}"
cert_file = "{p.cert("lg-a")}"
key_file = "{p.key("lg-a")}"
health_interval_s = 1.0
"""
    )
    # An alert clip kept on an earlier day (sealed to central's key), for central to fetch.
    keys = generate_keypair(tmp_path / "central")
    SealedClipSink(tmp_path / "data", str(keys.public_path), lambda *a: None).save(
        np.zeros(16000, np.int16), {"keyword": "ssibal", "category": "profanity", "label": "confirmed"}
    )
    proc, sock = start(tmp_path, "--config", str(config))
    try:
        messages_until(sock, "READY=1")
        wait_for(lambda: receiver.counters.health >= 2, 20, "no health reports reached central")
        body = json.loads(receiver.store.query("SELECT body FROM health ORDER BY ts DESC LIMIT 1")[0][0])
        assert body["line"]["phase"] == "idle" and body["line"]["bypass"] is False
        assert "outbox_depth" in body and "disk" in json.dumps(body)
        reply = receiver.command(
            "site-a", "lg-a", "config.patch", {"patch": {"duration": {"cut_s": 1500.0}}}, 20
        )
        assert reply.get("ok", True) is not False, reply
        got = receiver.command("site-a", "lg-a", "config.get", {}, 20)
        assert json.dumps(got).count("1500") >= 1
        bad = receiver.command("site-a", "lg-a", "config.patch", {"patch": {"duration": {"cut_s": "x"}}}, 20)
        assert "cut_s" in json.dumps(bad) and bad.get("ok") is False
        wait_for(lambda: receiver.counters.events >= 1, 20, "no event reached central")
        assert body["detector"]["clips"]["stored"] == 1
        fetched = receiver.command("site-a", "lg-a", "clips.fetch", {}, 20)
        assert fetched.get("ok") is True and fetched["result"]["clips"] == 1, fetched
        transfer = fetched["result"]["transfer"]
        wait_for(lambda: transfer in receiver.uploads, 10, "clips archive not assembled")
        got = source_clips(receiver.uploads[transfer])
        assert len(got) == 1 and got[0].label and got[0].label["label"] == "confirmed"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        sock.close()
