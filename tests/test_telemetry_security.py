"""Security over a real TLS+ACL Mosquitto: no box speaks for another, commands only from central, signed models."""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.receiver import Receiver
from edge.telemetry.client import Telemetry, make_client
from tests.mqtt_support import Broker
from tests.mqtt_support.box import CENTRAL_KEY, MODEL, Box
from tests.mqtt_support.box import box as box
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


def _client(broker: Broker, identity: str) -> tuple[mqtt.Client, list[tuple[int, int]]]:
    acks: list[tuple[int, int]] = []
    client = make_client(broker.settings(identity), identity)
    client.on_publish = lambda _c, _u, mid, rc, _p: acks.append((mid, rc.value))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, acks


def _cmd_props(sender: str | None, response: str) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = response
    props.CorrelationData = b"x-1"
    if sender:
        props.UserProperty = [("sender", sender)]
    return props


def test_a_device_cannot_publish_under_another_devices_prefix(broker: Broker, receiver: Receiver) -> None:
    client, acks = _client(broker, "lg-b")
    try:
        forged = client.publish("lineguard/site-a/lg-a/event", b'{"epoch":"e","seq":1,"event":{}}', qos=1)
        own = client.publish("lineguard/site-b/lg-b/health", b'{"id":"e:h1","ts":1,"health":{}}', qos=1)
        wait_for(lambda: len(acks) == 2, 5, "no PUBACKs")
    finally:
        client.disconnect()
        client.loop_stop()
    codes = dict(acks)
    assert codes[forged.mid] == 0x87  # not authorised
    assert codes[own.mid] == 0
    wait_for(lambda: receiver.counters.health == 1, 5, "own health not received")
    assert receiver.store.query("SELECT count(*) FROM events")[0][0] == 0


def test_a_command_from_a_device_identity_is_refused(box: Box, broker: Broker) -> None:
    client, acks = _client(broker, "lg-b")
    try:
        props = _cmd_props("central", "lineguard/site-a/lg-a/reply/1")
        info = client.publish(
            "lineguard/site-a/lg-a/cmd/reboot", b'{"confirm": true}', qos=1, properties=props
        )
        wait_for(lambda: acks, 5, "no PUBACK")
    finally:
        client.disconnect()
        client.loop_stop()
    assert dict(acks)[info.mid] == 0x87
    time.sleep(0.3)
    assert box.handled == []


def test_a_certificate_from_another_ca_cannot_connect(broker: Broker) -> None:
    client = make_client(broker.settings("intruder"), "lg-a")
    with pytest.raises((ssl.SSLError, OSError)):
        client.connect("127.0.0.1", broker.port)
        for _ in range(50):
            client.loop(0.05)
            if client.is_connected():
                break
        assert not client.is_connected()
        raise OSError("refused as expected")


def test_a_command_without_the_central_sender_gets_an_error_and_changes_nothing(
    box: Box, broker: Broker
) -> None:
    replies: list[dict[str, Any]] = []
    client, _ = _client(broker, "central")
    client.on_message = lambda _c, _u, m: replies.append(json.loads(m.payload))
    try:
        client.subscribe("lineguard/site-a/lg-a/reply/#", qos=1)
        time.sleep(0.2)
        props = _cmd_props(None, "lineguard/site-a/lg-a/reply/2")
        client.publish(
            "lineguard/site-a/lg-a/cmd/config.patch", b'{"patch": {"lists": {}}}', qos=1, properties=props
        )
        wait_for(lambda: replies, 5, "no reply")
    finally:
        client.disconnect()
        client.loop_stop()
    assert replies[0]["ok"] is False and "unauthorised" in replies[0]["error"]
    assert box.handled == [] and box.applied == []


def _model_payload(version: str, blob: bytes, signature: bytes | None) -> dict[str, Any]:
    return {
        "version": version,
        "model_b64": base64.b64encode(blob).decode(),
        "signature_b64": base64.b64encode(signature or b"").decode(),
    }


def test_model_update_needs_central_signature(box: Box, receiver: Receiver) -> None:
    good = CENTRAL_KEY.sign(MODEL).signature
    wrong_key = SigningKey(bytes(32)).sign(MODEL).signature
    tampered = MODEL[:-1] + b"\x00"

    unsigned = receiver.command("site-a", "lg-a", "model.update", _model_payload("v2", MODEL, None))
    wrong = receiver.command("site-a", "lg-a", "model.update", _model_payload("v2", MODEL, wrong_key))
    altered = receiver.command("site-a", "lg-a", "model.update", _model_payload("v2", tampered, good))
    assert [r["ok"] for r in (unsigned, wrong, altered)] == [False, False, False]
    assert all("signature" in r["error"] or "malformed" in r["error"] for r in (unsigned, wrong, altered))
    assert box.slot.current() is None and not box.slot.path("v2").exists()

    ok = receiver.command("site-a", "lg-a", "model.update", _model_payload("v2", MODEL, good))
    assert ok["ok"] is True and box.slot.current() == "v2"
    assert box.slot.path("v2").read_bytes() == MODEL

    # Signed but broken: the load check fails, so v2 stays in use.
    broken = b"JUNK" + MODEL[4:]
    bad_file = receiver.command(
        "site-a", "lg-a", "model.update", _model_payload("v3", broken, CENTRAL_KEY.sign(broken).signature)
    )
    assert bad_file["ok"] is False and "does not load" in bad_file["error"]
    assert box.slot.current() == "v2"


def test_model_rollback_returns_to_the_previous_signed_model(box: Box, receiver: Receiver) -> None:
    nothing = receiver.command("site-a", "lg-a", "model.rollback", {})
    assert nothing["ok"] is False and "no previous model" in nothing["error"]
    for version in ("v1", "v2"):
        blob = MODEL + version.encode()
        signature = CENTRAL_KEY.sign(blob).signature
        assert receiver.command("site-a", "lg-a", "model.update", _model_payload(version, blob, signature))[
            "ok"
        ]
    back = receiver.command("site-a", "lg-a", "model.rollback", {})
    assert back["ok"] is True and back["result"]["version"] == "v1" and box.slot.current() == "v1"
    assert box.slot.path("v1").read_bytes() == MODEL + b"v1"


def test_garbage_from_a_box_is_counted_and_changes_nothing(broker: Broker, receiver: Receiver) -> None:
    client, acks = _client(broker, "lg-b")
    try:
        for body in (b"\xff\xfe not json", b"[1, 2]", b'{"epoch": 5, "seq": "x", "event": []}', b"{}"):
            client.publish("lineguard/site-b/lg-b/event", body, qos=1)
        client.publish("lineguard/site-b/lg-b/status", b"\x00", qos=1)
        client.publish("lineguard/site-b/lg-b/upload/t1", b"chunk without properties", qos=1)
        good = b'{"id": "e:1", "epoch": "e", "seq": 1, "ts": 1.0, "event": {"type": "ring"}}'
        client.publish("lineguard/site-b/lg-b/event", good, qos=1)
        wait_for(lambda: len(acks) == 7, 5, "no PUBACKs")
        wait_for(lambda: receiver.counters.events == 1, 5, "the good event after the garbage was not stored")
    finally:
        client.disconnect()
        client.loop_stop()
    assert receiver.counters.malformed == 6
    assert receiver.store.query("SELECT device, seq, type FROM events") == [("lg-b", 1, "ring")]


def test_a_box_whose_id_is_not_its_certificate_gets_every_report_refused_and_kept(
    tmp_path: Path, broker: Broker, receiver: Receiver
) -> None:
    tele = Telemetry(broker.settings("lg-a"), "lg-x", "site-a", tmp_path / "box", _Quiet())
    tele.start()
    try:
        for n in range(3):
            tele.publish_event({"n": n})
        wait_for(lambda: tele.outbox.refused_count() == 3, 10, "refusals not recorded")
        assert tele.outbox_depth() == 0 and tele.last_error and "Not authorized" in tele.last_error
    finally:
        tele.stop()
    assert receiver.counters.events == 0
